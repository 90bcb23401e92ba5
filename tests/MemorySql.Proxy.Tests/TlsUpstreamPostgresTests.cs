using System.Globalization;
using MemorySql.Proxy.Tests.Support;
using MemorySql.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// A second, small PostgreSQL cluster with ssl = on (certificate made in the test), and a proxy with TLS on
/// both legs in front of it: upstream TlsMode=VerifyFull against that certificate, client TLS with another.
/// </summary>
public sealed class TlsPostgresFixture : IAsyncLifetime
{
    private string _dataDir = "";

    public EmbeddedCluster Cluster { get; private set; } = null!;
    public TestCertificate ServerCertificate { get; } = TestCertificate.Create();
    public TestCertificate ProxyCertificate { get; } = TestCertificate.Create();
    public ProxyServer Proxy { get; private set; } = null!;
    public string Psql { get; private set; } = "psql";

    public async Task InitializeAsync()
    {
        var binaries = PostgresBinaries.Locate();
        Psql = binaries.Psql;
        _dataDir = Path.Combine(Path.GetTempPath(), "memorysql-tls-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Cluster = new EmbeddedCluster(binaries, new EmbeddedClusterOptions
        {
            DataDir = _dataDir,
            Port = EmbeddedCluster.FreePort(),
            AdminPassword = "tls-admin-" + Guid.NewGuid().ToString("N")[..8],
            Durable = false,
            ExtraSettings = ["max_connections = 20", "ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'", "log_min_messages = warning"],
        });
        Cluster.Initialize();
        foreach (var (source, name) in new[] { (ServerCertificate.CertificateFile, "server.crt"), (ServerCertificate.KeyFile, "server.key") })
        {
            var target = Path.Combine(_dataDir, name);
            File.Copy(source, target, overwrite: true);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            ProcessRunner.HandToServiceUser(target);
        }
        Cluster.Start();

        var options = new ProxyOptions
        {
            Port = 0,
            Upstream = { Host = "127.0.0.1", Port = Cluster.Options.Port, TlsMode = UpstreamTlsMode.VerifyFull, TlsCaFile = ServerCertificate.CertificateFile },
            Tls = { CertificateFile = ProxyCertificate.CertificateFile, KeyFile = ProxyCertificate.KeyFile },
        };
        Proxy = new ProxyServer(options, null, NullLoggerFactory.Instance);
        await Proxy.StartAsync(CancellationToken.None);
    }

    public string ProxyConnectionString(string extra) =>
        $"Host=127.0.0.1;Port={Proxy.LocalEndPoint.Port.ToString(CultureInfo.InvariantCulture)};Username={Cluster.Options.AdminUser};Password={Cluster.Options.AdminPassword};Database=postgres;Pooling=false;{extra}";

    public async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        Cluster.Stop(immediate: true);
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
        ServerCertificate.Dispose();
        ProxyCertificate.Dispose();
    }
}

/// <summary>SCRAM through the proxy to a real PostgreSQL that is reached over verified TLS.</summary>
public sealed class TlsUpstreamPostgresTests : IClassFixture<TlsPostgresFixture>
{
    private readonly TlsPostgresFixture _pg;

    public TlsUpstreamPostgresTests(TlsPostgresFixture pg) => _pg = pg;

    [Fact]
    public async Task Npgsql_TlsWithChannelBindingDisable_LogsInWithScram_AndBothLegsAreEncrypted()
    {
        await using var conn = new NpgsqlConnection(_pg.ProxyConnectionString("SSL Mode=Require;Trust Server Certificate=true;Channel Binding=Disable"));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", conn);
        Assert.True((bool)(await cmd.ExecuteScalarAsync())!); // the proxy's upstream leg is TLS
    }

    [Theory]
    [InlineData("sslmode=disable")]
    [InlineData("sslmode=require channel_binding=disable")]
    public async Task Psql_InTheWorkingSettings_LogsInWithScram(string settings)
    {
        var result = await ClientProgram.RunAsync(_pg.Psql, ["-X", "-At", "-c", "SELECT 'scram over tls ok'",
            $"host=127.0.0.1 port={_pg.Proxy.LocalEndPoint.Port} user={_pg.Cluster.Options.AdminUser} dbname=postgres {settings}"],
            new Dictionary<string, string> { ["PGPASSWORD"] = _pg.Cluster.Options.AdminPassword });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("scram over tls ok", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Npgsql_DefaultChannelBinding_GetsTheExplanationWithTheFix()
    {
        await using var conn = new NpgsqlConnection(_pg.ProxyConnectionString("SSL Mode=Require;Trust Server Certificate=true;Include Error Detail=true"));
        var e = await Assert.ThrowsAsync<PostgresException>(() => conn.OpenAsync());
        Assert.Equal("08P01", e.SqlState);
        Assert.Contains("Channel Binding=Disable", e.Hint, StringComparison.Ordinal);
    }
}
