using System.Globalization;
using System.Net;

namespace MemorySql.Proxy;

/// <summary>
/// Everything the proxy can be told, bound from the configuration section <c>Proxy</c>
/// (see docs/configuration.md for every key with an example).
/// </summary>
public sealed class ProxyOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Proxy";

    /// <summary>The address to listen on. "127.0.0.1" by default; "0.0.0.0" or "::" for every interface.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>The TCP port to listen on; 0 picks a free port (see <see cref="ProxyServer.LocalEndPoint"/>).</summary>
    public int Port { get; set; } = 6432;

    /// <summary>The PostgreSQL server that clients are relayed to.</summary>
    public UpstreamOptions Upstream { get; set; } = new();

    /// <summary>TLS towards clients (the proxy answers SSLRequest with 'S' only when a certificate is set).</summary>
    public ClientTlsOptions Tls { get; set; } = new();

    /// <summary>Sizes, counts and timeouts that protect the proxy from misbehaving or idle clients.</summary>
    public ProxyLimits Limits { get; set; } = new();

    /// <summary>
    /// What drives the sockets of relayed sessions: <see cref="ProxySocketEngine.Epoll"/> (the proxy's own epoll
    /// loop, Linux x86-64), <see cref="ProxySocketEngine.DotNet"/> (.NET's socket engine), or
    /// <see cref="ProxySocketEngine.Auto"/> (epoll where supported).
    /// </summary>
    public ProxySocketEngine SocketEngine { get; set; } = ProxySocketEngine.Auto;

    /// <summary>True when sessions use the proxy's own epoll loop (<see cref="SocketEngine"/> resolved for this machine).</summary>
    internal bool UsesEpoll => SocketEngine == ProxySocketEngine.Epoll || (SocketEngine == ProxySocketEngine.Auto && Sockets.EpollSocketEngine.IsSupported);

    /// <summary>Checks every value and returns one readable line per problem (empty when all is well).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!IPAddress.TryParse(ListenAddress, out _))
            problems.Add($"Proxy:ListenAddress '{ListenAddress}' is not an IP address (use 127.0.0.1, 0.0.0.0 or ::).");
        if (Port is < 0 or > 65535) problems.Add($"Proxy:Port {Port} is not a TCP port (0–65535).");
        if (string.IsNullOrWhiteSpace(Upstream.Host)) problems.Add("Proxy:Upstream:Host is empty: name the PostgreSQL server to relay to.");
        if (Upstream.Port is < 1 or > 65535) problems.Add($"Proxy:Upstream:Port {Upstream.Port} is not a TCP port (1–65535).");
        if (Upstream.TlsCaFile is not null && !File.Exists(Upstream.TlsCaFile))
            problems.Add($"Proxy:Upstream:TlsCaFile '{Upstream.TlsCaFile}' does not exist.");
        if (Upstream.ConnectTimeout <= TimeSpan.Zero) problems.Add("Proxy:Upstream:ConnectTimeout must be positive.");
        problems.AddRange(Tls.Validate());
        if (Limits.MaxConnections < 1) problems.Add("Proxy:Limits:MaxConnections must be at least 1.");
        if (Limits.MaxStartupPacketSize is < 64 or > 1024 * 1024)
            problems.Add($"Proxy:Limits:MaxStartupPacketSize {Limits.MaxStartupPacketSize} must be between 64 and 1048576 bytes.");
        if (Limits.MaxMessageSize is < 1024 or > ProxyLimits.PostgresMaxMessageSize)
            problems.Add($"Proxy:Limits:MaxMessageSize {Limits.MaxMessageSize.ToString(CultureInfo.InvariantCulture)} must be between 1024 and {ProxyLimits.PostgresMaxMessageSize} bytes.");
        if (Limits.StartupTimeout <= TimeSpan.Zero) problems.Add("Proxy:Limits:StartupTimeout must be positive.");
        if (SocketEngine == ProxySocketEngine.Epoll && !Sockets.EpollSocketEngine.IsSupported)
            problems.Add("Proxy:SocketEngine Epoll needs Linux on x86-64; use Auto or DotNet here.");
        if (Limits.ClientIdleTimeout < TimeSpan.Zero) problems.Add("Proxy:Limits:ClientIdleTimeout cannot be negative (00:00:00 turns it off).");
        return problems;
    }
}

/// <summary>What drives the sockets of relayed sessions (see docs/proxy.md, Performance).</summary>
public enum ProxySocketEngine
{
    /// <summary>Epoll where supported (Linux x86-64), .NET's socket engine elsewhere.</summary>
    Auto,
    /// <summary>The proxy's own epoll loop: one recv and one send per relayed read, one thread per four cores.</summary>
    Epoll,
    /// <summary>.NET's socket engine (SocketAsyncEngine).</summary>
    DotNet,
}

/// <summary>How the proxy reaches PostgreSQL.</summary>
public sealed class UpstreamOptions
{
    /// <summary>Host name or IP address of PostgreSQL, or a folder holding its Unix socket (a path starting with '/').</summary>
    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; } = 5432;

    /// <summary>TLS towards PostgreSQL, independent of TLS towards clients. Same meaning as libpq's sslmode.</summary>
    public UpstreamTlsMode TlsMode { get; set; } = UpstreamTlsMode.Prefer;

    /// <summary>PEM file of the CA(s) that sign the server certificate (verify-ca / verify-full); the system store when unset.</summary>
    public string? TlsCaFile { get; set; }

    /// <summary>How long opening a connection (TCP and TLS) to PostgreSQL may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>libpq's sslmode values for the upstream connection.</summary>
public enum UpstreamTlsMode
{
    /// <summary>Plaintext only.</summary>
    Disable,
    /// <summary>TLS when the server offers it, plaintext otherwise; the certificate is not checked.</summary>
    Prefer,
    /// <summary>TLS or fail; the certificate is not checked.</summary>
    Require,
    /// <summary>TLS with a certificate signed by a trusted CA; the host name is not checked.</summary>
    VerifyCa,
    /// <summary>TLS with a trusted certificate whose name matches <see cref="UpstreamOptions.Host"/>.</summary>
    VerifyFull,
}

/// <summary>The certificate the proxy shows to clients. PEM (certificate + key) or PKCS#12 (PFX).</summary>
public sealed class ClientTlsOptions
{
    /// <summary>PEM certificate (chain) file; needs <see cref="KeyFile"/> unless the key is in the same file.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM private key file (PKCS#8, RSA or EC); unencrypted.</summary>
    public string? KeyFile { get; set; }

    /// <summary>PKCS#12 file with certificate and key, instead of the PEM pair.</summary>
    public string? PfxFile { get; set; }

    public string? PfxPassword { get; set; }

    /// <summary>Refuse clients that do not use TLS (SQLSTATE 28000). Needs a certificate.</summary>
    public bool Required { get; set; }

    /// <summary>True when a certificate is configured.</summary>
    public bool Enabled => CertificateFile is not null || PfxFile is not null;

    internal IEnumerable<string> Validate()
    {
        if (CertificateFile is not null && PfxFile is not null)
            yield return "Proxy:Tls: set either CertificateFile (+KeyFile) or PfxFile, not both.";
        if (CertificateFile is not null && !File.Exists(CertificateFile))
            yield return $"Proxy:Tls:CertificateFile '{CertificateFile}' does not exist.";
        if (KeyFile is not null && !File.Exists(KeyFile))
            yield return $"Proxy:Tls:KeyFile '{KeyFile}' does not exist.";
        if (KeyFile is not null && CertificateFile is null)
            yield return "Proxy:Tls:KeyFile is set without Proxy:Tls:CertificateFile.";
        if (PfxFile is not null && !File.Exists(PfxFile))
            yield return $"Proxy:Tls:PfxFile '{PfxFile}' does not exist.";
        if (Required && !Enabled)
            yield return "Proxy:Tls:Required is true but no certificate is configured (CertificateFile+KeyFile or PfxFile).";
    }
}

/// <summary>Protective limits. Each one is documented with its default and the error a client gets.</summary>
public sealed class ProxyLimits
{
    /// <summary>PostgreSQL's own ceiling for a message (1 GiB − 1).</summary>
    public const int PostgresMaxMessageSize = 0x3FFFFFFF;

    /// <summary>Client connections at once; one more gets SQLSTATE 53300. Each needs an upstream connection too.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>Largest startup packet accepted (PostgreSQL: 10000 bytes).</summary>
    public int MaxStartupPacketSize { get; set; } = 10000;

    /// <summary>
    /// Largest message a client may send, in bytes (64 MiB). Messages the proxy must look at whole (Query,
    /// Parse, Bind of a rewritten statement) are buffered up to this size; others are streamed through.
    /// </summary>
    public int MaxMessageSize { get; set; } = 64 * 1024 * 1024;

    /// <summary>How long a client may take from connecting to ReadyForQuery (TLS, startup, authentication).</summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Close a session when nothing has moved in either direction for this long (SQLSTATE 57P05); 0 turns it off.</summary>
    public TimeSpan ClientIdleTimeout { get; set; } = TimeSpan.Zero;
}
