using System.Globalization;
using MemorySql.Runtime;
using Npgsql;

namespace MemorySql.Tests.Cli;

/// <summary>Stopping and restarting `memorysql up`: clean shutdown on SIGTERM, data kept, no second initdb; PostgreSQL restarting under it.</summary>
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
                // Make it an instance from before workspaces had a schema of their own: the next start adds it.
                await using (var admin = new NpgsqlConnection(DataFolder.Open(dataDir).AdminConnectionString()))
                {
                    await admin.OpenAsync();
                    await using var drop = new NpgsqlCommand($"DROP SCHEMA \"{DataFolder.DefaultWorkspace}\"", admin);
                    await drop.ExecuteNonQueryAsync();
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
            Assert.Contains($"creating schema {DataFolder.DefaultWorkspace}", second.StdErr, StringComparison.Ordinal);
            await using (var create = new NpgsqlCommand("CREATE TABLE notes (id int); SELECT schemaname::text FROM pg_tables WHERE tablename = 'notes'", check))
                Assert.Equal(DataFolder.DefaultWorkspace, await create.ExecuteScalarAsync());
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
    public async Task Up_WhenPostgresRestartsUnderIt_HeldSessionsGetTheServersFatal_AndNewSessionsAndWorkersCarryOn()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "memorysql-pgrestart-" + Guid.NewGuid().ToString("N")[..10]);
        var port = EmbeddedCluster.FreePort().ToString(CultureInfo.InvariantCulture);
        try
        {
            await using var up = CliProcess.Start("up", "--data-dir", dataDir, "--port", port);
            var url = await up.WaitForStdOutAsync(l => l.StartsWith("postgresql://", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
            var throughProxy = PostgresUrl.ToConnectionString(url) + ";Pooling=false";

            // A session busy through the proxy while PostgreSQL goes down.
            await using var held = new NpgsqlConnection(throughProxy);
            await held.OpenAsync();
            await using var sleeping = new NpgsqlCommand("SELECT pg_sleep(60)", held);
            var running = sleeping.ExecuteNonQueryAsync();
            await Task.Delay(500);

            var folder = DataFolder.Open(dataDir);
            var cluster = folder.Cluster(PostgresBinaries.Locate());
            cluster.Stop();
            var error = await Assert.ThrowsAnyAsync<Exception>(() => running.WaitAsync(TimeSpan.FromSeconds(30)));
            var fatal = error as PostgresException ?? error.InnerException as PostgresException;
            Assert.True(fatal?.SqlState == "57P01", $"expected the server's own FATAL 57P01 relayed, got: {error}");
            cluster.Start();

            // A memory stored while bypassing the proxy has no vector yet: the embed worker, which lost its connections
            // with the restart, must pick it up (its LISTEN connection comes back; polling covers the gap).
            var direct = $"Host=127.0.0.1;Port={folder.State.PostgresPort};Username={folder.State.Workspace};Password={folder.State.WorkspacePassword};Database={DataFolder.DatabaseName};Pooling=false";
            Guid id;
            await using (var conn = new NpgsqlConnection(direct))
            {
                await conn.OpenAsync();
                await using var remember = new NpgsqlCommand("CALL remember('after the restart Robin keeps the spare keys')", conn);
                id = (Guid)(await remember.ExecuteScalarAsync())!;
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
                while (true)
                {
                    await using var embedded = new NpgsqlCommand("SELECT count(*) FROM memory.embeddings WHERE memory_id = $1", conn) { Parameters = { new() { Value = id } } };
                    if ((long)(await embedded.ExecuteScalarAsync())! == 1) break;
                    Assert.True(DateTime.UtcNow < deadline, "the embed worker did not embed a memory stored after the restart within a minute:\n" + up.StdErr);
                    await Task.Delay(250);
                }
            }

            // New sessions through the same proxy work, and recall finds it by vector as well as by words.
            await using (var after = new NpgsqlConnection(throughProxy))
            {
                await after.OpenAsync();
                await using var recall = new NpgsqlCommand("SELECT id, signals FROM recall('who keeps the spare keys?', k => 1)", after);
                await using var reader = await recall.ExecuteReaderAsync();
                Assert.True(await reader.ReadAsync());
                Assert.Equal(id, reader.GetGuid(0));
                Assert.Contains("vector", reader.GetFieldValue<string[]>(1));
            }
            Assert.False(up.HasExited, "memorysql up must keep running across a restart of its PostgreSQL");
            up.Signal("TERM");
            Assert.Equal(0, await up.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        }
        finally
        {
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
