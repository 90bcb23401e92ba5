using System.Net.Security;
using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>TLS towards clients: SSLRequest with 'S', PostgreSQL 17 direct TLS, and the Required switch.</summary>
public sealed class TlsTests : IClassFixture<TlsProxyFixture>, IAsyncLifetime
{
    private readonly TlsProxyFixture _db;

    public TlsTests(TlsProxyFixture db) => _db = db;

    public Task InitializeAsync() => _db.EnsureRoleAsync(RawProtocolTests.User, RawProtocolTests.Password, RoleAuth.Cleartext);
    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Npgsql_SslModeRequire_ConnectsOverTls_WhileTheUpstreamLegIsPlaintext()
    {
        await using var conn = await _db.OpenProxyAsync("Pooling=false;SSL Mode=Require;Trust Server Certificate=true");
        await using var cmd = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", conn);
        Assert.False((bool)(await cmd.ExecuteScalarAsync())!); // the proxy terminated TLS; its own upstream leg is independent
    }

    [Fact]
    public async Task Psql_SslModeRequire_RunsQueries_WithScramOverTls()
    {
        var result = await ClientProgram.RunAsync(_db.Server.Binaries.Psql,
            ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 'tls ok'", "-c", "\\conninfo",
             $"host=127.0.0.1 port={_db.ProxyPort} user={_db.Server.AdminUser} dbname={_db.Name} sslmode=require"],
            new Dictionary<string, string> { ["PGPASSWORD"] = _db.Server.AdminPassword });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("tls ok", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("SSL connection", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Psql_ChannelBindingRequire_FailsCleanly()
    {
        var result = await ClientProgram.RunAsync(_db.Server.Binaries.Psql,
            ["-X", "-At", "-c", "SELECT 1", $"host=127.0.0.1 port={_db.ProxyPort} user={_db.Server.AdminUser} dbname={_db.Name} sslmode=require channel_binding=require"],
            new Dictionary<string, string> { ["PGPASSWORD"] = _db.Server.AdminPassword });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("channel binding", result.StdErr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task DirectTls_WithAlpnPostgresql_LogsIn()
    {
        await using var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
        var ssl = new SslStream(c.Stream, leaveInnerStreamOpen: true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [new SslApplicationProtocol("postgresql")],
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == _db.Certificate.Certificate.GetCertHashString(),
        });
        c.UseStream(ssl);
        var messages = await c.LoginAsync(RawProtocolTests.User, RawProtocolTests.Password, _db.Name);
        Assert.Equal('Z', messages[^1].Type);
    }

    [Fact]
    public async Task DirectTls_WithoutAlpn_IsRefused()
    {
        await using var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
        var ssl = new SslStream(c.Stream, leaveInnerStreamOpen: true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == _db.Certificate.Certificate.GetCertHashString(),
        });
        c.UseStream(ssl);
        var messages = await c.ReadUntilClosedAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("ALPN", Assert.Single(messages).Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SslRequest_GetsS_AndPlaintextSentAlongIsRejected()
    {
        await using var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
        await c.SendAsync(Msg.Concat(new MessageBuilder().SslRequest().ToArray(), RawPgConnection.Startup("x", "y")));
        var messages = await c.ReadUntilClosedAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("received unencrypted data after SSL request", Assert.Single(messages).Error.Message);
    }

    [Fact]
    public async Task CancelRequest_OverTls_CancelsTheQuery()
    {
        await using var conn = await _db.OpenProxyAsync("Pooling=false;SSL Mode=Require;Trust Server Certificate=true");
        await using var cmd = new NpgsqlCommand("SELECT pg_sleep(30)", conn);
        var running = cmd.ExecuteNonQueryAsync();
        await Task.Delay(300);
        cmd.Cancel();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => running);
        Assert.Equal("57014", (e as PostgresException ?? (PostgresException)e.InnerException!).SqlState);
    }
}

/// <summary>A proxy that accepts only TLS clients.</summary>
public sealed class TlsRequiredTests : IAsyncLifetime
{
    private TestCertificate _certificate = null!;
    private FakeProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _certificate = TestCertificate.Create();
        _proxy = await FakeProxy.StartAsync(configure: o =>
        {
            o.Tls.CertificateFile = _certificate.CertificateFile;
            o.Tls.KeyFile = _certificate.KeyFile;
            o.Tls.Required = true;
        });
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        _certificate.Dispose();
    }

    [Fact]
    public async Task PlaintextStartup_IsRefusedWith28000()
    {
        await using var c = await RawPgConnection.ConnectAsync(_proxy.Port);
        await c.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var error = (await c.ReadAsync()).Error;
        Assert.Equal("28000", error.SqlState);
        Assert.Contains("sslmode=require", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>TLS towards the upstream server, independent of the client side, with libpq's sslmode semantics.</summary>
public sealed class UpstreamTlsTests
{
    [Fact]
    public async Task Require_ConnectsOverTls()
    {
        using var cert = TestCertificate.Create();
        await using var upstream = new FakeUpstream(certificate: cert.Certificate);
        await using var proxy = await FakeProxy.StartAsync(upstream: upstream, configure: o => o.Upstream.TlsMode = UpstreamTlsMode.Require);
        await using var client = await proxy.LoginAsync();
        Assert.IsType<SslStream>(upstream.Backends.Single().Stream);
    }

    [Fact]
    public async Task VerifyFull_WithTheRightCaAndHost_Connects()
    {
        using var cert = TestCertificate.Create();
        await using var upstream = new FakeUpstream(certificate: cert.Certificate);
        await using var proxy = await FakeProxy.StartAsync(upstream: upstream, configure: o =>
        {
            o.Upstream.TlsMode = UpstreamTlsMode.VerifyFull;
            o.Upstream.TlsCaFile = cert.CertificateFile;
        });
        await using var client = await proxy.LoginAsync();
        Assert.IsType<SslStream>(upstream.Backends.Single().Stream);
    }

    [Fact]
    public async Task VerifyFull_WithAWrongHostName_Fails08001()
    {
        using var cert = TestCertificate.Create("db.example.com", ["db.example.com"], []);
        await using var upstream = new FakeUpstream(certificate: cert.Certificate);
        await using var proxy = await FakeProxy.StartAsync(upstream: upstream, configure: o =>
        {
            o.Upstream.TlsMode = UpstreamTlsMode.VerifyFull;
            o.Upstream.TlsCaFile = cert.CertificateFile;
        });
        await using var c = await RawPgConnection.ConnectAsync(proxy.Port);
        await c.SendAsync(RawPgConnection.Startup("tester", "fake"));
        Assert.Equal("08001", (await c.ReadAsync()).Error.SqlState);
    }

    [Fact]
    public async Task VerifyCa_WithAnUntrustedCertificate_Fails08001()
    {
        using var cert = TestCertificate.Create();
        using var otherCa = TestCertificate.Create();
        await using var upstream = new FakeUpstream(certificate: cert.Certificate);
        await using var proxy = await FakeProxy.StartAsync(upstream: upstream, configure: o =>
        {
            o.Upstream.TlsMode = UpstreamTlsMode.VerifyCa;
            o.Upstream.TlsCaFile = otherCa.CertificateFile;
        });
        await using var c = await RawPgConnection.ConnectAsync(proxy.Port);
        await c.SendAsync(RawPgConnection.Startup("tester", "fake"));
        Assert.Equal("08001", (await c.ReadAsync()).Error.SqlState);
    }

    [Fact]
    public async Task ClientAnnouncingChannelBinding_OverATlsUpstream_GetsAnExplanationInsteadOfAScramFailure()
    {
        using var cert = TestCertificate.Create();
        await using var upstream = new FakeUpstream(async backend =>
        {
            await backend.WriteAsync(new MessageBuilder().AuthenticationSasl(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
            await backend.ReadAsync();
        }, cert.Certificate);
        await using var proxy = await FakeProxy.StartAsync(upstream: upstream, configure: o => o.Upstream.TlsMode = UpstreamTlsMode.Require);
        await using var c = await RawPgConnection.ConnectAsync(proxy.Port);
        await c.SendAsync(RawPgConnection.Startup("tester", "fake"));
        Assert.Equal('R', (await c.ReadAsync()).Type);
        var first = "y,,n=,r=clientnonce"u8.ToArray();
        await c.SendAsync(new MessageBuilder().StartMessage(FrontendCode.Password).WriteCString("SCRAM-SHA-256").WriteInt32(first.Length).WriteBytes(first).EndMessage());
        var error = (await c.ReadAsync()).Error;
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("channel_binding=disable", error.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Require_AgainstAServerWithoutTls_Fails08001()
    {
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Upstream.TlsMode = UpstreamTlsMode.Require);
        await using var c = await RawPgConnection.ConnectAsync(proxy.Port);
        await c.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var error = (await c.ReadAsync()).Error;
        Assert.Equal("08001", error.SqlState);
        Assert.Contains("does not accept TLS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prefer_AgainstAServerWithoutTls_FallsBackToPlaintext()
    {
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Upstream.TlsMode = UpstreamTlsMode.Prefer);
        await using var client = await proxy.LoginAsync();
        Assert.IsNotType<SslStream>(proxy.Upstream.Backends.Single().Stream);
    }
}
