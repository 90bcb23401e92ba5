using MemorySql.Proxy.Tests.Support;

namespace MemorySql.Proxy.Tests;

/// <summary>psql and pgbench, run as real processes against the proxy.</summary>
public sealed class CliClientTests : IClassFixture<ProxyFixture>
{
    private readonly ProxyFixture _db;

    public CliClientTests(ProxyFixture db) => _db = db;

    private Dictionary<string, string> Env => new()
    {
        ["PGHOST"] = "127.0.0.1",
        ["PGPORT"] = _db.ProxyPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["PGUSER"] = _db.Server.AdminUser,
        ["PGPASSWORD"] = _db.Server.AdminPassword,
        ["PGDATABASE"] = _db.Name,
        ["PGSSLMODE"] = "prefer",
    };

    private Task<ClientProgram.Result> PsqlAsync(string script, params string[] extra) =>
        ClientProgram.RunAsync(_db.Server.Binaries.Psql, ["-X", "-At", "-v", "ON_ERROR_STOP=1", .. extra, "-f", "-"], Env, stdin: script);

    [Fact]
    public async Task Psql_MultiStatementCommand_ReturnsEveryResult()
    {
        var result = await ClientProgram.RunAsync(_db.Server.Binaries.Psql, ["-X", "-At", "-c", "SELECT 'one'; SELECT 'two'; SELECT 'three'"], Env);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["one", "two", "three"], result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Psql_CopyFromStdinAndToStdout_RoundTrips()
    {
        var script = """
            CREATE TABLE psql_copy (id int, name text);
            \copy psql_copy FROM stdin
            1	alpha
            2	beta
            3	gamma
            \.
            \copy (SELECT id, upper(name) FROM psql_copy ORDER BY id) TO stdout
            """;
        var result = await PsqlAsync(script);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("1\tALPHA\n2\tBETA\n3\tGAMMA", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Psql_VariablesAndGset_Work()
    {
        var script = """
            SELECT :'greeting' || ', ' || :'who' AS text \gset
            SELECT :'text';
            SELECT 6 * 7 AS answer \gset
            \echo answer=:answer
            """;
        var result = await PsqlAsync(script, "-v", "greeting=hello", "-v", "who=proxy");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("hello, proxy", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("answer=42", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Psql_ErrorWithOnErrorStop_ReportsTheServerError()
    {
        var result = await PsqlAsync("SELECT 1/0;\nSELECT 'not reached';");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("division by zero", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("not reached", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pgbench_InitThenSelectOnlyInEveryProtocolMode_HasNoFailures()
    {
        var pgbench = _db.Server.Binaries.Pgbench;
        var init = await ClientProgram.RunAsync(pgbench, ["-i", "-s", "1", "-q"], Env, timeout: TimeSpan.FromMinutes(3));
        Assert.True(init.ExitCode == 0, init.ToString());
        foreach (var mode in new[] { "simple", "extended", "prepared" })
        {
            var run = await ClientProgram.RunAsync(pgbench, ["-S", "-M", mode, "-c", "4", "-j", "2", "-T", "2", "-n"], Env, timeout: TimeSpan.FromMinutes(2));
            Assert.True(run.ExitCode == 0, mode + ": " + run);
            Assert.Contains("number of failed transactions: 0", run.StdOut, StringComparison.Ordinal);
            Assert.Matches(@"number of transactions actually processed: [1-9]\d*", run.StdOut);
        }
    }
}
