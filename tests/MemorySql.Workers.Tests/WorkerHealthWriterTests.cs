using MemorySql.Testing;
using MemorySql.Workers.Common;
using MemorySql.Workers.Health;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.Workers.Tests;

/// <summary>The health writer against a real PostgreSQL: rows in memory.worker_health, read through memory.worker_status and memory.stats.</summary>
public sealed class WorkerHealthWriterTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public WorkerHealthWriterTests(TestDatabase db) => _db = db;

    private WorkerHealthWriter Writer(WorkerHealthRegistry registry, string instance, NpgsqlDataSource? dataSource = null, double interval = 0.1) =>
        new(dataSource ?? _db.Admin, registry, new WorkerHealthOptions { Instance = instance, IntervalSeconds = interval }, NullLogger<WorkerHealthWriter>.Instance);

    [Fact]
    public async Task Write_UpsertsOneRowPerWorker_WithItsCounters()
    {
        var registry = new WorkerHealthRegistry();
        var health = new WorkerHealth("extraction-test");
        registry.Add(health);
        health.MarkRunning(true);
        health.RecordSuccess(7);
        health.RecordError("the LLM said no");
        health.RecordQueue(3, 1);
        health.Count("heuristic", 2);
        var writer = Writer(registry, "host-a:1");

        Assert.True(await writer.TryWriteAsync(stopped: false, CancellationToken.None));
        health.RecordSuccess(5);
        Assert.True(await writer.TryWriteAsync(stopped: false, CancellationToken.None));

        var row = Assert.Single(await _db.Admin.QueryAsync(
            "SELECT state, processed, consecutive_errors, last_error, queue_depth, failed_depth, counters::text AS counters FROM memory.worker_status WHERE worker = 'extraction-test'"));
        Assert.Equal("running", row["state"]);
        Assert.Equal(12L, row["processed"]);
        Assert.Equal(0, row["consecutive_errors"]); // the success after the error reset it
        Assert.Equal("the LLM said no", row["last_error"]);
        Assert.Equal(3L, row["queue_depth"]);
        Assert.Equal(1L, row["failed_depth"]);
        Assert.Contains("\"heuristic\": 2", (string)row["counters"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_ShowLiveWorkers_WithoutErrorTexts_ToWorkspaces()
    {
        var registry = new WorkerHealthRegistry();
        var health = new WorkerHealth("stats-test", "model-x");
        registry.Add(health);
        health.MarkRunning(true);
        health.RecordSuccess(4);
        health.RecordError("secret detail of another workspace");
        await Writer(registry, "host-b:2").TryWriteAsync(stopped: false, CancellationToken.None);

        var ws = await _db.CreateWorkspaceAsync("health_stats");
        var rows = await ws.DataSource.QueryAsync("SELECT key, value FROM memory.stats WHERE section = 'workers' AND key LIKE 'stats-test/model-x:%' ORDER BY key");
        var stats = rows.ToDictionary(r => (string)r["key"]!, r => (long)r["value"]!);
        Assert.Equal(1L, stats["stats-test/model-x:instances"]);
        Assert.Equal(4L, stats["stats-test/model-x:processed"]);
        Assert.Equal(1L, stats["stats-test/model-x:consecutive_errors"]);
        Assert.True(stats["stats-test/model-x:seconds_since_success"] >= 0);
        Assert.Equal("42501", (await ws.DataSource.FailsAsync("SELECT * FROM memory.worker_status")).SqlState);
        Assert.Equal("42501", (await ws.DataSource.FailsAsync("SELECT * FROM memory.worker_health")).SqlState);
    }

    [Fact]
    public async Task Stop_WritesTheWorkersAsStopped_AndStatsNoLongerCountThem()
    {
        var registry = new WorkerHealthRegistry();
        var health = new WorkerHealth("stop-test");
        registry.Add(health);
        health.MarkRunning(true);
        var writer = Writer(registry, "host-c:3");
        await writer.StartAsync(CancellationToken.None);
        await EmbedTestSchema.EventuallyAsync(async () =>
            await _db.ScalarAsync<string>("SELECT state FROM memory.worker_status WHERE worker = 'stop-test'") == "running", "first heartbeat");

        await writer.StopAsync(CancellationToken.None);
        writer.Dispose();

        Assert.Equal("stopped", await _db.ScalarAsync<string>("SELECT state FROM memory.worker_status WHERE worker = 'stop-test'"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.stats WHERE section = 'workers' AND key LIKE 'stop-test:%'"));
    }

    [Fact]
    public async Task ARowNotRefreshed_IsShownAsLost()
    {
        var registry = new WorkerHealthRegistry();
        var health = new WorkerHealth("lost-test");
        registry.Add(health);
        health.MarkRunning(true);
        await Writer(registry, "host-d:4").TryWriteAsync(stopped: false, CancellationToken.None);
        await _db.ExecuteAsync("UPDATE memory.worker_health SET heartbeat_at = now() - interval '1 minute' WHERE worker = 'lost-test'");
        Assert.Equal("lost", await _db.ScalarAsync<string>("SELECT state FROM memory.worker_status WHERE worker = 'lost-test'"));
    }

    [Fact]
    public async Task AnUnreachableDatabase_IsReportedAsFalse_NotThrown()
    {
        var registry = new WorkerHealthRegistry();
        registry.Add(new WorkerHealth("unreachable-test"));
        await using var nowhere = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=x;Database=x;Timeout=2");
        Assert.False(await Writer(registry, "host-e:5", nowhere).TryWriteAsync(stopped: false, CancellationToken.None));
    }

    [Fact]
    public void InvalidOptions_NameTheKey()
    {
        var errors = new WorkerHealthOptions { IntervalSeconds = 0, RetentionDays = -1 }.Validate();
        Assert.Contains(errors, e => e.Contains("Workers:Health:IntervalSeconds", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Workers:Health:RetentionDays", StringComparison.Ordinal));
    }
}
