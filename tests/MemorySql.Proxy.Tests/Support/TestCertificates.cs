using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MemorySql.Proxy.Tests.Support;

/// <summary>Self-signed certificates made in the test, written as PEM files the way a user would configure them.</summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(X509Certificate2 certificate, string folder)
    {
        Certificate = certificate;
        Folder = folder;
        CertificateFile = Path.Combine(folder, "server.crt");
        KeyFile = Path.Combine(folder, "server.key");
        File.WriteAllText(CertificateFile, certificate.ExportCertificatePem());
        using var rsa = certificate.GetRSAPrivateKey()!;
        File.WriteAllText(KeyFile, rsa.ExportPkcs8PrivateKeyPem());
    }

    public X509Certificate2 Certificate { get; }
    public string Folder { get; }
    public string CertificateFile { get; }
    public string KeyFile { get; }

    /// <summary>A certificate for the given DNS names and IP addresses (default: localhost and 127.0.0.1).</summary>
    public static TestCertificate Create(string commonName = "localhost", string[]? dnsNames = null, IPAddress[]? addresses = null)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames ?? ["localhost"]) san.AddDnsName(name);
        foreach (var address in addresses ?? [IPAddress.Loopback]) san.AddIpAddress(address);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Through PKCS#12 so SslStream can use the key on Linux.
        var certificate = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
        var folder = Path.Combine(Path.GetTempPath(), "memorysql-tls-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        return new TestCertificate(certificate, folder);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A proxy with client TLS on (PEM certificate + key) in front of the test database.</summary>
public sealed class TlsProxyFixture : ProxyFixture
{
    public TestCertificate Certificate { get; } = TestCertificate.Create();

    protected override void Configure(ProxyOptions options)
    {
        options.Tls.CertificateFile = Certificate.CertificateFile;
        options.Tls.KeyFile = Certificate.KeyFile;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Certificate.Dispose();
    }
}
