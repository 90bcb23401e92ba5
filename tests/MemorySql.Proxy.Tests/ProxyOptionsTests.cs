using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace MemorySql.Proxy.Tests;

public sealed partial class ProxyOptionsTests
{
    [Fact]
    public void DocumentedExample_BindsToEveryKey_AndIsValid()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "configuration.md"));
        var section = doc[doc.IndexOf("## Proxy", StringComparison.Ordinal)..];
        var json = JsonBlock().Match(section).Groups[1].Value;
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var options = configuration.GetSection(ProxyOptions.SectionName).Get<ProxyOptions>()!;

        var defaults = new ProxyOptions();
        Assert.Equal(defaults.ListenAddress, options.ListenAddress);
        Assert.Equal(defaults.Port, options.Port);
        Assert.Equal(defaults.Upstream.Host, options.Upstream.Host);
        Assert.Equal(defaults.Upstream.Port, options.Upstream.Port);
        Assert.Equal(defaults.Upstream.TlsMode, options.Upstream.TlsMode);
        Assert.Equal(defaults.Upstream.ConnectTimeout, options.Upstream.ConnectTimeout);
        Assert.Equal(defaults.Tls.Required, options.Tls.Required);
        Assert.Equal(defaults.Limits.MaxConnections, options.Limits.MaxConnections);
        Assert.Equal(defaults.Limits.MaxStartupPacketSize, options.Limits.MaxStartupPacketSize);
        Assert.Equal(defaults.Limits.MaxMessageSize, options.Limits.MaxMessageSize);
        Assert.Equal(defaults.Limits.StartupTimeout, options.Limits.StartupTimeout);
        Assert.Equal(defaults.Limits.ClientIdleTimeout, options.Limits.ClientIdleTimeout);
        Assert.Equal(defaults.SocketEngine, options.SocketEngine);
        Assert.Empty(options.Validate());

        // Every key of the table appears in the example, and every option property in the table.
        foreach (var key in new[] { "ListenAddress", "Port", "Host", "TlsMode", "TlsCaFile", "ConnectTimeout", "CertificateFile", "KeyFile", "PfxFile", "PfxPassword", "Required", "MaxConnections", "MaxStartupPacketSize", "MaxMessageSize", "StartupTimeout", "ClientIdleTimeout", "SocketEngine" })
        {
            Assert.Contains($"\"{key}\"", json, StringComparison.Ordinal);
            Assert.Contains($":{key}`", section, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EnvironmentStyleKeys_OverrideNestedValues()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Port"] = "7432",
            ["Proxy:Upstream:TlsMode"] = "VerifyFull",
            ["Proxy:Limits:ClientIdleTimeout"] = "00:05:00",
        }).Build();
        var options = configuration.GetSection("Proxy").Get<ProxyOptions>()!;
        Assert.Equal(7432, options.Port);
        Assert.Equal(UpstreamTlsMode.VerifyFull, options.Upstream.TlsMode);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Limits.ClientIdleTimeout);
    }

    [Fact]
    public void Validate_NamesEveryWrongKey()
    {
        var options = new ProxyOptions
        {
            ListenAddress = "localhost-ish",
            Port = 70000,
            Upstream = { Host = "", TlsCaFile = "/no/such/ca.pem" },
            Tls = { Required = true },
            Limits = { MaxConnections = 0, MaxMessageSize = 10, MaxStartupPacketSize = 1 },
        };
        var problems = string.Join("\n", options.Validate());
        foreach (var key in new[] { "Proxy:ListenAddress", "Proxy:Port", "Proxy:Upstream:Host", "Proxy:Upstream:TlsCaFile", "Proxy:Tls:Required", "Proxy:Limits:MaxConnections", "Proxy:Limits:MaxMessageSize", "Proxy:Limits:MaxStartupPacketSize" })
            Assert.Contains(key, problems, StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => new ProxyServer(options, null, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance));
        Assert.Contains("Proxy:Port", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PortInUse_FailsToStart_NamingTheKeys()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var options = new ProxyOptions { Port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port };
        await using var proxy = new ProxyServer(options, null, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => proxy.StartAsync(CancellationToken.None));
        Assert.Contains("Proxy:Port", e.Message, StringComparison.Ordinal);
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MemorySql.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    [GeneratedRegex("```json\\s*\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
