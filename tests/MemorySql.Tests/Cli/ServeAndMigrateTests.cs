using System.Globalization;
using MemorySql.Runtime;
using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Tests.Cli;

/// <summary>`memorysql serve` and `migrate` against an existing PostgreSQL (the test cluster).</summary>
public sealed class ServeAndMigrateTests
{
    private static async Task<string> EmptyDatabaseAsync(PostgresServer server, string name)
    {
        await using var conn = new NpgsqlConnection(server.AdminConnectionString());
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name}", conn);
        await cmd.ExecuteNonQueryAsync();
        return PostgresUrl.Build("127.0.0.1", server.Port, server.AdminUser, server.AdminPassword, name);
    }

    [Fact]
    public async Task Migrate_InstallsTheSchemaOnce_ThenReportsUpToDate()
    {
        var server = await PostgresServer.GetAsync();
        var url = await EmptyDatabaseAsync(server, "cli_migrate");
        var (first, _, firstErr) = await CliProcess.RunAsync("migrate", "--upstream", url);
        Assert.True(first == 0, firstErr);
        Assert.Contains("applied", firstErr, StringComparison.Ordinal);
        var (second, _, secondErr) = await CliProcess.RunAsync("migrate", "--upstream", url);
        Assert.Equal(0, second);
        Assert.Contains("up to date", secondErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_UnreachableUpstream_FailsWithAReadableMessage()
    {
        var port = EmbeddedCluster.FreePort();
        var (exit, _, stderr) = await CliProcess.RunAsync("migrate", "--upstream", $"postgresql://nobody:x@127.0.0.1:{port}/db");
        Assert.Equal(1, exit);
        Assert.StartsWith("error:", stderr.Trim(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal); // no stack trace for an expected failure
    }

    [Fact]
    public async Task Serve_WithMigrate_RelaysClients_AndMemoryCallsGetEmbeddings()
    {
        var server = await PostgresServer.GetAsync();
        var url = await EmptyDatabaseAsync(server, "cli_serve");
        var port = EmbeddedCluster.FreePort();
        await using var serve = CliProcess.Start("serve", "--upstream", url, "--port", port.ToString(CultureInfo.InvariantCulture), "--migrate");
        await WaitForPortAsync(serve, port);
        var proxied = PostgresUrl.Build("127.0.0.1", port, server.AdminUser, server.AdminPassword, "cli_serve");
        var (exit, output) = await Psql.RunScriptAsync(proxied, """
            SELECT memory.create_workspace('serve_ws', 'serve-secret');
            """);
        Assert.True(exit == 0, output);
        var workspaceUrl = PostgresUrl.Build("127.0.0.1", port, "serve_ws", "serve-secret", "cli_serve");
        await using var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(workspaceUrl));
        await conn.OpenAsync();
        await using (var remember = new NpgsqlCommand("CALL remember($1)", conn))
        {
            remember.Parameters.AddWithValue("Serve relays memory calls");
            await remember.ExecuteNonQueryAsync();
        }
        await using var recall = new NpgsqlCommand("SELECT signals FROM recall($1, k => 1)", conn);
        recall.Parameters.AddWithValue("memory calls relayed");
        var signals = (string[])(await recall.ExecuteScalarAsync())!;
        Assert.Contains("vector", signals);
    }

    [Fact]
    public async Task Serve_WithoutTheMemorySchema_StillRelaysOrdinarySql()
    {
        var server = await PostgresServer.GetAsync();
        var url = await EmptyDatabaseAsync(server, "cli_plain");
        var port = EmbeddedCluster.FreePort();
        await using var serve = CliProcess.Start("serve", "--upstream", url, "--port", port.ToString(CultureInfo.InvariantCulture));
        await WaitForPortAsync(serve, port);
        Assert.Contains("not installed", serve.StdErr, StringComparison.Ordinal);
        var proxied = PostgresUrl.Build("127.0.0.1", port, server.AdminUser, server.AdminPassword, "cli_plain");
        var (exit, output) = await Psql.RunScriptAsync(proxied, "CREATE TABLE t (x int); INSERT INTO t VALUES (41); SELECT x + 1 AS answer FROM t;");
        Assert.True(exit == 0, output);
        Assert.Contains("42", output, StringComparison.Ordinal);
    }

    private static async Task WaitForPortAsync(CliProcess process, int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"serve exited: {process.StdErr}");
            using var client = new System.Net.Sockets.TcpClient();
            try
            {
                await client.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(200);
            }
        }
        throw new TimeoutException("serve did not listen: " + process.StdErr);
    }
}
