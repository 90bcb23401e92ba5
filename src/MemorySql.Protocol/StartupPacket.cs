using System.Buffers.Binary;
using System.Text;

namespace MemorySql.Protocol;

/// <summary>What the first packet of a connection asks for.</summary>
public enum StartupPacketKind
{
    Startup,
    SslRequest,
    GssEncRequest,
    CancelRequest,
}

/// <summary>One parameter of a StartupMessage, kept as raw bytes so it is forwarded exactly as sent.</summary>
public sealed record StartupParameter(byte[] Name, byte[] Value)
{
    public string NameText => Encoding.UTF8.GetString(Name);
    public string ValueText => Encoding.UTF8.GetString(Value);
}

/// <summary>
/// A parsed untyped startup-phase packet: StartupMessage, SSLRequest, GSSENCRequest or CancelRequest.
/// Parsing follows PostgreSQL's own rules (src/backend/tcop/backend_startup.c) and refuses what it refuses.
/// </summary>
public sealed class StartupPacket
{
    /// <summary>Prefix of protocol extension options ("_pq_.name"); MemorySql supports none of them.</summary>
    public const string ProtocolOptionPrefix = "_pq_.";

    /// <summary>PostgreSQL's MAX_STARTUP_PACKET_LENGTH; the default limit of the proxy too.</summary>
    public const int DefaultMaxLength = 10000;

    /// <summary>A CancelRequest carries a 4-byte key for protocol 3.0 and up to 256 bytes for 3.2.</summary>
    public const int MaxCancelKeyLength = 256;

    private StartupPacket(StartupPacketKind kind) => Kind = kind;

    public StartupPacketKind Kind { get; }

    /// <summary>The requested protocol version (StartupMessage only).</summary>
    public int MajorVersion { get; private init; }
    public int MinorVersion { get; private init; }

    /// <summary>Parameters in the order the client sent them, without the "_pq_." options.</summary>
    public IReadOnlyList<StartupParameter> Parameters { get; private init; } = [];

    /// <summary>"_pq_." protocol options the client asked for (reported back as unsupported).</summary>
    public IReadOnlyList<string> ProtocolOptions { get; private init; } = [];

    /// <summary>CancelRequest: the process id and secret key the client got in BackendKeyData.</summary>
    public int CancelProcessId { get; private init; }
    public byte[] CancelSecret { get; private init; } = [];

    public string? GetParameter(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        foreach (var p in Parameters)
            if (p.Name.AsSpan().SequenceEqual(bytes)) return p.ValueText;
        return null;
    }

    /// <summary>
    /// Parses a packet given without its int32 length prefix (the code and the body).
    /// Throws <see cref="PgProtocolException"/> with PostgreSQL's wording for malformed packets.
    /// </summary>
    public static StartupPacket Parse(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 4) throw new PgProtocolException("invalid length of startup packet");
        var code = BinaryPrimitives.ReadInt32BigEndian(packet);
        var body = packet[4..];
        switch (code)
        {
            case StartupCodes.SslRequest:
                if (!body.IsEmpty) throw new PgProtocolException("invalid length of SSL request packet");
                return new StartupPacket(StartupPacketKind.SslRequest);
            case StartupCodes.GssEncRequest:
                if (!body.IsEmpty) throw new PgProtocolException("invalid length of GSSENC request packet");
                return new StartupPacket(StartupPacketKind.GssEncRequest);
            case StartupCodes.CancelRequest:
                if (body.Length < 8 || body.Length - 4 > MaxCancelKeyLength)
                    throw new PgProtocolException("invalid length of query cancel packet");
                return new StartupPacket(StartupPacketKind.CancelRequest)
                {
                    CancelProcessId = BinaryPrimitives.ReadInt32BigEndian(body),
                    CancelSecret = body[4..].ToArray(),
                };
        }

        var major = (code >> 16) & 0xFFFF;
        var minor = code & 0xFFFF;
        if (major != 3)
            throw new PgProtocolException(SqlStates.FeatureNotSupported,
                $"unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.{ProtocolVersions.NewestMinor}");

        // name\0value\0 ... \0 ; the last byte must be the terminator.
        if (body.IsEmpty || body[^1] != 0)
            throw new PgProtocolException("invalid startup packet layout: expected terminator as last byte");
        var parameters = new List<StartupParameter>();
        var options = new List<string>();
        var rest = body;
        while (true)
        {
            var nameEnd = rest.IndexOf((byte)0);
            if (nameEnd == 0) break; // the terminator
            var name = rest[..nameEnd];
            rest = rest[(nameEnd + 1)..];
            var valueEnd = rest.IndexOf((byte)0);
            if (valueEnd < 0) throw new PgProtocolException("invalid startup packet layout: expected terminator as last byte");
            var value = rest[..valueEnd];
            rest = rest[(valueEnd + 1)..];
            if (name.StartsWith("_pq_."u8))
                options.Add(Encoding.UTF8.GetString(name));
            else
                parameters.Add(new StartupParameter(name.ToArray(), value.ToArray()));
            if (rest.IsEmpty) throw new PgProtocolException("invalid startup packet layout: expected terminator as last byte");
        }
        if (rest.Length != 1) throw new PgProtocolException("invalid startup packet layout: expected terminator as last byte");

        var packetResult = new StartupPacket(StartupPacketKind.Startup)
        {
            MajorVersion = major,
            MinorVersion = minor,
            Parameters = parameters,
            ProtocolOptions = options,
        };
        if (string.IsNullOrEmpty(packetResult.GetParameter("user")))
            throw new PgProtocolException(SqlStates.InvalidAuthorization, "no PostgreSQL user name specified in startup packet");
        return packetResult;
    }
}

/// <summary>The protocol versions MemorySql speaks with clients.</summary>
public static class ProtocolVersions
{
    /// <summary>3.2 (PostgreSQL 18): the only change from 3.0 is the longer cancel key, which the proxy issues itself.</summary>
    public const int NewestMinor = 2;

    /// <summary>
    /// The minor version to speak with a client that asked for <paramref name="requestedMinor"/>: 3.0 and 3.2
    /// as asked, 3.1 (never released) as 3.0, anything newer as 3.2.
    /// </summary>
    public static int Negotiate(int requestedMinor) => requestedMinor switch
    {
        0 => 0,
        1 => 0,
        _ => NewestMinor,
    };
}
