using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MemorySql.Protocol;
using MemorySql.Proxy.Sockets;

namespace MemorySql.Proxy;

/// <summary>An open connection to PostgreSQL, plaintext or TLS.</summary>
internal sealed record UpstreamConnection(Socket Socket, Stream Stream, bool IsTls) : IDisposable
{
    public void Dispose()
    {
        Stream.Dispose();
        Socket.Dispose();
    }
}

/// <summary>The proxy could not reach PostgreSQL; the message says where and why (reported as 08001).</summary>
internal sealed class UpstreamUnavailableException : Exception
{
    public UpstreamUnavailableException(string message) : base(message) { }
    public UpstreamUnavailableException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Opens connections to the upstream PostgreSQL, negotiating TLS as libpq's sslmode would.</summary>
internal sealed class UpstreamConnector
{
    private readonly UpstreamOptions _options;
    private readonly X509Certificate2Collection? _trustedCas;

    private readonly bool _useEpoll;

    public UpstreamConnector(UpstreamOptions options, bool useEpoll = false)
    {
        _options = options;
        _useEpoll = useEpoll;
        if (options.TlsCaFile is not null)
        {
            _trustedCas = [];
            _trustedCas.ImportFromPemFile(options.TlsCaFile);
        }
    }

    public string Description => IsUnixSocket
        ? $"{_options.Host}/.s.PGSQL.{_options.Port}"
        : $"{_options.Host}:{_options.Port}";

    private bool IsUnixSocket => _options.Host.StartsWith('/');

    public async Task<UpstreamConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        Socket socket;
        Stream network;
        try
        {
            (socket, network) = await OpenSocketAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new UpstreamUnavailableException($"connecting to the upstream PostgreSQL at {Description} timed out after {_options.ConnectTimeout.TotalSeconds:0.#} s");
        }
        catch (SocketException e)
        {
            throw new UpstreamUnavailableException($"could not connect to the upstream PostgreSQL at {Description}: {e.Message}", e);
        }

        if (_options.TlsMode == UpstreamTlsMode.Disable || IsUnixSocket)
            return new UpstreamConnection(socket, network, false);
        try
        {
            var tls = await NegotiateTlsAsync(network, timeout.Token).ConfigureAwait(false);
            return tls is null ? new UpstreamConnection(socket, network, false) : new UpstreamConnection(socket, tls, true);
        }
        catch (Exception e)
        {
            await network.DisposeAsync().ConfigureAwait(false);
            if (e is UpstreamUnavailableException) throw;
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                throw new UpstreamUnavailableException($"TLS negotiation with the upstream PostgreSQL at {Description} timed out", e);
            if (e is AuthenticationException or IOException or SocketException)
                throw new UpstreamUnavailableException($"TLS with the upstream PostgreSQL at {Description} failed ({_options.TlsMode}): {e.Message}", e);
            throw;
        }
    }

    private async Task<(Socket Socket, Stream Stream)> OpenSocketAsync(CancellationToken cancellationToken)
    {
        if (IsUnixSocket)
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            var path = new UnixDomainSocketEndPoint(Path.Combine(_options.Host, $".s.PGSQL.{_options.Port}"));
            try
            {
                if (_useEpoll)
                    return (unix, await EpollSocketEngine.ConnectAsync(unix, path, cancellationToken).ConfigureAwait(false));
                await unix.ConnectAsync(path, cancellationToken).ConfigureAwait(false);
                return (unix, new NetworkStream(unix, ownsSocket: true));
            }
            catch
            {
                unix.Dispose();
                throw;
            }
        }
        if (_useEpoll)
        {
            var stream = await EpollSocketEngine.ConnectTcpAsync(_options.Host, _options.Port, cancellationToken).ConfigureAwait(false);
            return (stream.Socket, stream);
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_options.Host, _options.Port, cancellationToken).ConfigureAwait(false);
            return (socket, new NetworkStream(socket, ownsSocket: true));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>SSLRequest; returns the TLS stream, or null when the server said 'N' and plaintext is allowed.</summary>
    private async Task<SslStream?> NegotiateTlsAsync(Stream network, CancellationToken cancellationToken)
    {
        await network.WriteAsync(new MessageBuilder(8).SslRequest().WrittenMemory, cancellationToken).ConfigureAwait(false);
        var answer = new byte[1];
        await network.ReadExactlyAsync(answer, cancellationToken).ConfigureAwait(false);
        if (answer[0] == (byte)'N')
        {
            if (_options.TlsMode == UpstreamTlsMode.Prefer) return null;
            throw new UpstreamUnavailableException(
                $"the upstream PostgreSQL at {Description} does not accept TLS, and Proxy:Upstream:TlsMode is {_options.TlsMode}; turn ssl on in PostgreSQL or set TlsMode to Prefer or Disable");
        }
        if (answer[0] != (byte)'S')
            throw new UpstreamUnavailableException($"the upstream PostgreSQL at {Description} answered the SSL request with an unexpected byte 0x{answer[0]:x2}");

        var ssl = new SslStream(network, leaveInnerStreamOpen: false, ValidateServerCertificate);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = _options.Host,
            ApplicationProtocols = [TlsSetup.PostgresAlpn],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        }, cancellationToken).ConfigureAwait(false);
        return ssl;
    }

    private bool ValidateServerCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        switch (_options.TlsMode)
        {
            case UpstreamTlsMode.Prefer:
            case UpstreamTlsMode.Require:
                return true; // like libpq: encryption without authentication of the server
            case UpstreamTlsMode.VerifyCa:
            case UpstreamTlsMode.VerifyFull:
                if (certificate is null) return false;
                var nameOk = _options.TlsMode == UpstreamTlsMode.VerifyCa || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
                if (!nameOk) return false;
                if (_trustedCas is null) return (errors & SslPolicyErrors.RemoteCertificateChainErrors) == 0;
                using (var custom = new X509Chain())
                {
                    custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    custom.ChainPolicy.CustomTrustStore.AddRange(_trustedCas);
                    custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    if (chain is not null)
                        foreach (var element in chain.ChainElements.Skip(1)) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                    using var leaf = new X509Certificate2(certificate);
                    return custom.Build(leaf);
                }
            default:
                return false;
        }
    }
}
