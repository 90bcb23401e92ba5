using System.Globalization;
using MemorySql.Runtime;
using Npgsql;

namespace MemorySql.Tests.Cli;

/// <summary>Stopping and restarting `memorysql up`: clean shutdown on SIGTERM, data kept, no second initdb.</summary>
public sealed class UpLifecycleTests
{
    [Fact]
    public async Task Up_StopsCleanlyOnSigterm_AndARestartKeepsTheMemories_WithSharedBuffersFromTheConfiguration()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "memorysql-life-" + Guid.NewGuid().ToString("N")[..10]);
        var port = EmbeddedCluster.FreePort().ToString(CultureInfo.InvariantCulture);
        var config = Path.Combine(Path.GetTempPath(), "memorysql-life-" + Guid.NewGuid().ToString("N")[..10] + ".json");
        var example = ClusterOptionsTests.DocsExamples()[0];   // docs/configuration.md's Cluster example
        await File.WriteAllTextAsync(config, example);
        try
        {
            await using (var first = CliProcess.Start("up", "--data-dir", dataDir, "--port", port))
            {
                var url = await first.WaitForStdOutAsync(l => l.StartsWith("postgresql://", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
                await using (var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(url)))
                {
                    await conn.OpenAsync();
                    await using var cmd = new NpgsqlCommand("CALL remember('kept across restarts')", conn);
                    await cmd.ExecuteNonQueryAsync();
                    // By default a quarter of the memory, 128 MB to 2 GB, not PostgreSQL's own 128 MB whatever the machine.
                    await using var showDefault = new NpgsqlCommand("SHOW shared_buffers", conn);
                    Assert.Equal(new ClusterOptions().ResolveSharedBuffers(), await showDefault.ExecuteScalarAsync());
                }
                first.Signal("TERM");
                Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromMinutes(1)));
                Assert.Contains("creating a PostgreSQL", first.StdErr, StringComparison.Ordinal);
            }
            // The pooled connection to the stopped instance is dead; a new instance gets new connections.
            NpgsqlConnection.ClearAllPools();
            var folder = DataFolder.Open(dataDir);
            Assert.False(folder.Cluster(PostgresBinaries.Locate()).IsRunning(), "PostgreSQL must stop with memorysql up");

            await using var second = CliProcess.Start("up", "--data-dir", dataDir, "--port", port, "--config", config);
            var again = await second.WaitForStdOutAsync(l => l.StartsWith("postgresql://", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
            Assert.DoesNotContain("creating a PostgreSQL", second.StdErr, StringComparison.Ordinal);
            await using var check = new NpgsqlConnection(PostgresUrl.ToConnectionString(again));
            await check.OpenAsync();
            await using var recall = new NpgsqlCommand("SELECT content FROM recall('kept across restarts', k => 1)", check);
            Assert.Equal("kept across restarts", await recall.ExecuteScalarAsync());
            // The configured size applies at the next start of an existing cluster.
            await using var show = new NpgsqlCommand("SHOW shared_buffers", check);
            var configured = ClusterOptionsTests.Bind(example).ResolveSharedBuffers();
            Assert.Equal(configured, await show.ExecuteScalarAsync());
            Assert.Contains($"shared_buffers = {configured}", second.StdErr, StringComparison.Ordinal);
            // TERM, not INT: a test run started in the background (`./test.sh &`) passes SIGINT on as ignored, as
            // shells do for background jobs, and `memorysql up` then never sees it.
            second.Signal("TERM");
            Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        }
        finally
        {
            File.Delete(config);
            try { Directory.Delete(dataDir, recursive: true); }
            catch (IOException) { }
        }
    }

    [Fact]
    public async Task Url_WithoutAnInstance_ExplainsHowToStartOne()
    {
        var (exit, stdout, stderr) = await CliProcess.RunAsync("url", "--data-dir", "/tmp/memorysql-nothing-here-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(1, exit);
        Assert.Empty(stdout.Trim());
        Assert.Contains("memorysql up --data-dir", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_IsAvailableForEveryCommand()
    {
        foreach (var command in new[] { "up", "url", "status", "psql", "serve", "migrate", "workspace", "workspace create" })
        {
            var (exit, stdout, _) = await CliProcess.RunAsync([.. command.Split(' '), "--help"]);
            Assert.True(exit == 0, command);
            Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
        }
    }
}
