using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using MemorySql.Protocol;

namespace MemorySql.Proxy;

/// <summary>What the client asked for once encryption is settled: a session, or a cancel.</summary>
internal sealed record HandshakeResult(Stream Stream, StartupPacket Packet, bool IsTls);

/// <summary>
/// The untyped first packets of a connection: SSLRequest, GSSENCRequest, direct TLS, CancelRequest and
/// StartupMessage, read with exact-size reads so that nothing the client sent ahead is swallowed before TLS.
/// </summary>
internal sealed class ClientHandshake
{
    private readonly Socket _socket;
    private readonly ProxyOptions _options;
    private readonly SslServerAuthenticationOptions? _tls;

    public ClientHandshake(Socket socket, ProxyOptions options, SslServerAuthenticationOptions? tls)
    {
        _socket = socket;
        _options = options;
        _tls = tls;
    }

    /// <summary>The stream to report errors on: plaintext until TLS is up, TLS after.</summary>
    public Stream CurrentStream { get; private set; } = null!;

    public async Task<HandshakeResult> RunAsync(Stream network, CancellationToken cancellationToken)
    {
        CurrentStream = network;
        var isTls = false;
        var sslRequested = false;
        var gssRequested = false;
        var first = true;
        var lengthBytes = new byte[4];

        while (true)
        {
            if (first)
            {
                first = false;
                await CurrentStream.ReadExactlyAsync(lengthBytes.AsMemory(0, 1), cancellationToken).ConfigureAwait(false);
                if (lengthBytes[0] == StartupCodes.TlsHandshakeRecord)
                {
                    await StartDirectTlsAsync(network, cancellationToken).ConfigureAwait(false);
                    isTls = true;
                    continue;
                }
                await CurrentStream.ReadExactlyAsync(lengthBytes.AsMemory(1, 3), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CurrentStream.ReadExactlyAsync(lengthBytes, cancellationToken).ConfigureAwait(false);
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(lengthBytes);
            if (length < 8 || length > _options.Limits.MaxStartupPacketSize)
                throw new PgProtocolException($"invalid length of startup packet ({length} bytes; the limit is {_options.Limits.MaxStartupPacketSize})");
            var body = new byte[length - 4];
            await CurrentStream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
            var packet = StartupPacket.Parse(body);

            switch (packet.Kind)
            {
                case StartupPacketKind.SslRequest:
                    if (isTls || sslRequested)
                        throw new PgProtocolException(SqlStates.ProtocolViolation, "SSL negotiation was requested twice");
                    sslRequested = true;
                    RejectBufferedPlaintext("SSL");
                    if (_tls is null)
                    {
                        await CurrentStream.WriteAsync("N"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    await CurrentStream.WriteAsync("S"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                    var ssl = new SslStream(network, leaveInnerStreamOpen: false);
                    await ssl.AuthenticateAsServerAsync(_tls, cancellationToken).ConfigureAwait(false);
                    CurrentStream = ssl;
                    isTls = true;
                    continue;

                case StartupPacketKind.GssEncRequest:
                    if (isTls || gssRequested)
                        throw new PgProtocolException(SqlStates.ProtocolViolation, "GSSAPI encryption was requested twice or after TLS");
                    gssRequested = true;
                    RejectBufferedPlaintext("GSSAPI");
                    await CurrentStream.WriteAsync("N"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                    continue;

                case StartupPacketKind.CancelRequest:
                    return new HandshakeResult(CurrentStream, packet, isTls);

                default:
                    if (_options.Tls.Required && !isTls)
                        throw new PgProtocolException(SqlStates.InvalidAuthorization,
                            "MemorySql accepts only TLS connections (Proxy:Tls:Required): connect with sslmode=require");
                    return new HandshakeResult(CurrentStream, packet, isTls);
            }
        }
    }

    /// <summary>
    /// Bytes that arrived together with an SSL or GSSAPI request were sent before encryption was agreed and
    /// could have been injected by a man in the middle (CVE-2021-23222): refuse them, as PostgreSQL does.
    /// </summary>
    private void RejectBufferedPlaintext(string what)
    {
        if (_socket.Available > 0)
            throw new PgProtocolException($"received unencrypted data after {what} request");
    }

    /// <summary>PostgreSQL 17 direct TLS: the connection starts with a ClientHello and must negotiate ALPN "postgresql".</summary>
    private async Task StartDirectTlsAsync(Stream network, CancellationToken cancellationToken)
    {
        if (_tls is null)
            throw new PgProtocolException("direct TLS connection attempted, but MemorySql has no TLS certificate configured (Proxy:Tls)");
        var ssl = new SslStream(new PrefixedStream([StartupCodes.TlsHandshakeRecord], network), leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(_tls, cancellationToken).ConfigureAwait(false);
        CurrentStream = ssl;
        if (ssl.NegotiatedApplicationProtocol != TlsSetup.PostgresAlpn)
            throw new PgProtocolException("received direct SSL connection request without ALPN protocol negotiation extension");
    }
}
