using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// An upstream reached over TLS offers SCRAM-SHA-256-PLUS and refuses clients that announce channel binding
/// support without using it. These tests check what real drivers send through the proxy in each setting:
/// with channel_binding=disable and TLS to the proxy, libpq and Npgsql both send the GS2 flag 'n', which
/// PostgreSQL accepts; the settings that cannot work get MemorySql's explanation.
/// </summary>
public sealed class ChannelBindingTests : IAsyncLifetime
{
    private TestCertificate _certificate = null!;
    private FakeUpstream _upstream = null!;
    private FakeProxy _proxy = null!;
    private TaskCompletionSource<string> _clientFirst = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task InitializeAsync()
    {
        _certificate = TestCertificate.Create();
        _upstream = new FakeUpstream(async backend =>
        {
            await backend.WriteAsync(new MessageBuilder().AuthenticationSasl([SaslMechanisms.ScramSha256Plus, SaslMechanisms.ScramSha256]));
            if (await backend.ReadAsync() is not { } response) return;
            var nameEnd = Array.IndexOf(response.Payload, (byte)0);
            _clientFirst.TrySetResult(System.Text.Encoding.UTF8.GetString(response.Payload, nameEnd + 5, response.Payload.Length - nameEnd - 5));
            await backend.WriteAsync(new MessageBuilder().ErrorResponse(PgError.Fatal("28P01", "password authentication failed (fake server)")));
        }, _certificate.Certificate);
        _proxy = await FakeProxy.StartAsync(upstream: _upstream, configure: o =>
        {
            o.Upstream.TlsMode = UpstreamTlsMode.Require;
            o.Tls.CertificateFile = _certificate.CertificateFile;
            o.Tls.KeyFile = _certificate.KeyFile;
        });
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        _certificate.Dispose();
    }

    private async Task<(string? ClientFirst, PostgresException Error)> NpgsqlLoginAsync(string settings)
    {
        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={_proxy.Port};Username=u;Password=p;Timeout=10;Include Error Detail=true;{settings}");
        var e = await Assert.ThrowsAsync<PostgresException>(() => conn.OpenAsync());
        var done = await Task.WhenAny(_clientFirst.Task, Task.Delay(300));
        return (done == _clientFirst.Task ? await _clientFirst.Task : null, e);
    }

    [Fact]
    public async Task Npgsql_OverTls_WithChannelBindingDisable_SendsFlagN_ThatPostgresAccepts()
    {
        var (clientFirst, error) = await NpgsqlLoginAsync("SSL Mode=Require;Trust Server Certificate=true;Channel Binding=Disable");
        Assert.StartsWith("n,,", clientFirst);
        Assert.Equal("28P01", error.SqlState); // the fake server's verdict, reached through the proxy
    }

    [Fact]
    public async Task Npgsql_OverTls_WithDefaultChannelBinding_GetsTheExplanation()
    {
        var (clientFirst, error) = await NpgsqlLoginAsync("SSL Mode=Require;Trust Server Certificate=true");
        Assert.Null(clientFirst);
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("Channel Binding=Disable", error.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Npgsql_WithoutTls_GetsTheExplanation()
    {
        var (clientFirst, error) = await NpgsqlLoginAsync("SSL Mode=Disable;Channel Binding=Disable");
        Assert.Null(clientFirst);
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("sslmode=require", error.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sslmode=require channel_binding=disable")]
    [InlineData("sslmode=disable")]
    public async Task Psql_InTheWorkingSettings_SendsFlagN(string settings)
    {
        var psql = (await MemorySql.Testing.PostgresServer.GetAsync()).Binaries.Psql;
        var result = await ClientProgram.RunAsync(psql, ["-X", "-c", "SELECT 1", $"host=127.0.0.1 port={_proxy.Port} user=u dbname=d {settings}"],
            new Dictionary<string, string> { ["PGPASSWORD"] = "p" });
        Assert.Contains("fake server", result.StdErr, StringComparison.Ordinal);
        Assert.StartsWith("n,,", await _clientFirst.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Psql_OverTls_WithDefaultChannelBinding_GetsTheExplanation()
    {
        var psql = (await MemorySql.Testing.PostgresServer.GetAsync()).Binaries.Psql;
        var result = await ClientProgram.RunAsync(psql, ["-X", "-c", "SELECT 1", $"host=127.0.0.1 port={_proxy.Port} user=u dbname=d sslmode=require"],
            new Dictionary<string, string> { ["PGPASSWORD"] = "p" });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("cannot pass through MemorySql", result.StdErr, StringComparison.Ordinal);
        Assert.False(_clientFirst.Task.IsCompleted);
    }
}
