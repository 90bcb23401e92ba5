using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace MemorySql.Proxy;

/// <summary>TLS settings built once from the options: the server side towards clients.</summary>
internal static class TlsSetup
{
    /// <summary>The ALPN protocol name PostgreSQL 17+ uses, mandatory for direct TLS.</summary>
    public static readonly SslApplicationProtocol PostgresAlpn = new("postgresql");

    /// <summary>Loads the configured certificate; null when client TLS is off.</summary>
    public static X509Certificate2? LoadServerCertificate(ClientTlsOptions options)
    {
        if (options.PfxFile is not null)
            return X509CertificateLoader.LoadPkcs12FromFile(options.PfxFile, options.PfxPassword);
        if (options.CertificateFile is not null)
        {
            using var pem = options.KeyFile is null
                ? X509Certificate2.CreateFromPemFile(options.CertificateFile)
                : X509Certificate2.CreateFromPemFile(options.CertificateFile, options.KeyFile);
            // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        return null;
    }

    public static SslServerAuthenticationOptions ServerOptions(X509Certificate2 certificate) => new()
    {
        ServerCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true),
        ApplicationProtocols = [PostgresAlpn],
        ClientCertificateRequired = false,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        EnabledSslProtocols = SslProtocols.None,
    };
}
