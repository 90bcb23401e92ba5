using MemorySql.Runtime;
using Npgsql;

namespace MemorySql.Tests.Cli;

/// <summary>`memorysql up` as a new user runs it: a real process, a real cluster, clients through the proxy.</summary>
public sealed class UpCommandTests : IClassFixture<MemorySqlUpFixture>
{
    private readonly MemorySqlUpFixture _up;

    public UpCommandTests(MemorySqlUpFixture up) => _up = up;

    [Fact]
    public async Task Up_PrintsAUrlThatPointsAtTheProxy_AsTheDefaultWorkspace()
    {
        var url = new Uri(_up.Url);
        Assert.Equal(_up.Port, url.Port);
        Assert.StartsWith(DataFolder.DefaultWorkspace + ":", url.UserInfo, StringComparison.Ordinal);
        await using var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(_up.Url));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT current_user::text, memory.current_workspace()::text", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(DataFolder.DefaultWorkspace, reader.GetString(0));
        Assert.Equal(DataFolder.DefaultWorkspace, reader.GetString(1));
    }

    [Fact]
    public async Task Up_RelaysToItsClusterOverTheUnixSocket()
    {
        await using var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(_up.Url));
        await conn.OpenAsync();
        // The client's own connection is TCP to the proxy; the session behind it is the proxy's upstream
        // connection, which PostgreSQL sees as local (no server address) when it came over the socket.
        await using var cmd = new NpgsqlCommand("SELECT inet_server_addr() IS NULL", conn);
        Assert.True((bool)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task ReadmeTour_RunsThroughPsql_AndRecallUsesTheProxysVector()
    {
        var blocks = Psql.SqlBlocks(Path.Combine(Psql.RepositoryRoot(), "README.md"));
        Assert.NotEmpty(blocks);
        var (exit, output) = await Psql.RunScriptAsync(_up.Url, string.Join("\n", blocks));
        Assert.True(exit == 0, "the README tour failed through psql:\n" + output);
        Assert.DoesNotContain("ERROR", output, StringComparison.Ordinal);
        // The tour's recall ran with the proxy's embedding: its signals name the vector and the model.
        Assert.Contains("vector", output, StringComparison.Ordinal);
        Assert.Contains("model:builtin-v2", output, StringComparison.Ordinal);
        Assert.Contains("Dana now prefers aisle seats", output, StringComparison.Ordinal);
        // The join of the workspace's own table with recall found Dana's memories.
        Assert.Matches(@"Oslo\s+\|\s+2026-12-03\s+\|\s+Dana", output);
    }

    [Fact]
    public async Task Pgbench_WithTheWorkspaceUrl_CreatesItsTablesInTheWorkspacesSchema_AndRunsInEveryMode()
    {
        // What a new user types: pgbench against the URL `memorysql url` prints (the workspace role, not the admin).
        var pgbench = PostgresBinaries.Locate().Pgbench;
        var init = await Task.Run(() => ProcessRunner.Run(pgbench, ["-i", "-s", "1", "-q", _up.Url], runAsServiceUser: false));
        Assert.True(init.ExitCode == 0, "pgbench -i failed with the workspace URL:\n" + init.Output);
        foreach (var mode in new[] { "simple", "extended", "prepared" })
        {
            var run = await Task.Run(() => ProcessRunner.Run(pgbench, ["-S", "-M", mode, "-c", "2", "-T", "1", "-n", _up.Url], runAsServiceUser: false));
            Assert.True(run.ExitCode == 0, mode + ": " + run.Output);
            Assert.Matches(@"number of transactions actually processed: [1-9]\d*", run.StdOut);
        }
        await using var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(_up.Url));
        await conn.OpenAsync();
        await using var where = new NpgsqlCommand("SELECT schemaname::text FROM pg_tables WHERE tablename = 'pgbench_accounts'", conn);
        Assert.Equal(DataFolder.DefaultWorkspace, await where.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Url_PrintsTheSameUrl_AndAdminGivesTheAdminRole()
    {
        var (exit, stdout, _) = await CliProcess.RunAsync("url", "--data-dir", _up.DataDir);
        Assert.Equal(0, exit);
        Assert.Equal(_up.Url, stdout.Trim());
        var (adminExit, admin, _) = await CliProcess.RunAsync("url", "--data-dir", _up.DataDir, "--admin");
        Assert.Equal(0, adminExit);
        Assert.StartsWith("postgresql://memorysql_admin:", admin.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_ShowsPostgresAndProxyRunning_AndMemoryCounts()
    {
        await using (var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(_up.Url)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CALL remember('status check memory')", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        var (exit, stdout, stderr) = await CliProcess.RunAsync("status", "--data-dir", _up.DataDir);
        Assert.True(exit == 0, stderr);
        Assert.Contains("postgresql    running", stdout, StringComparison.Ordinal);
        Assert.Contains("proxy         listening", stdout, StringComparison.Ordinal);
        Assert.Matches(@"memories\s+status:active\s+[1-9]", stdout);
        Assert.Contains("embedding_queue", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkspaceCreate_GivesALoginThatSeesOnlyItsOwnMemories()
    {
        await using (var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(_up.Url)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CALL remember('a secret of the default workspace')", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        var (exit, stdout, stderr) = await CliProcess.RunAsync("workspace", "create", "tenant_b", "--data-dir", _up.DataDir);
        Assert.True(exit == 0, stderr);
        var url = stdout.Trim();
        Assert.StartsWith("postgresql://tenant_b:", url, StringComparison.Ordinal);
        await using var other = new NpgsqlConnection(PostgresUrl.ToConnectionString(url));
        await other.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM memory.memories", other);
        Assert.Equal(0L, await count.ExecuteScalarAsync());
        await using var recall = new NpgsqlCommand("SELECT count(*) FROM recall('secret of the default workspace', k => 10)", other);
        Assert.Equal(0L, await recall.ExecuteScalarAsync());

        var (again, _, againErr) = await CliProcess.RunAsync("workspace", "create", "tenant_b", "--data-dir", _up.DataDir);
        Assert.Equal(1, again);
        Assert.Contains("exists already", againErr, StringComparison.Ordinal);
        var (idempotent, _, _) = await CliProcess.RunAsync("workspace", "create", "tenant_b", "--if-not-exists", "--data-dir", _up.DataDir);
        Assert.Equal(0, idempotent);
    }

    [Fact]
    public async Task SecondUp_OnTheSameDataFolder_RefusesWithAClearMessage()
    {
        var (exit, _, stderr) = await CliProcess.RunAsync("up", "--data-dir", _up.DataDir, "--port", EmbeddedCluster.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, exit);
        Assert.Contains("already running", stderr, StringComparison.Ordinal);
    }
}
