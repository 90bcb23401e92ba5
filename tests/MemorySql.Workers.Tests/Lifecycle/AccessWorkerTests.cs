using MemorySql.Testing;
using MemorySql.Workers.Access;
using Microsoft.Extensions.Logging.Abstractions;
using static MemorySql.Workers.Tests.EmbedTestSchema;

namespace MemorySql.Workers.Tests.Lifecycle;

public sealed class AccessWorkerTests : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db;
    private AccessWorker? _worker;

    public AccessWorkerTests(TestDatabase db) => _db = db;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_worker is null) return;
        await _worker.StopAsync(CancellationToken.None);
        _worker.Dispose();
    }

    [Fact]
    public async Task AccessWorker_FoldsRecallHitsIntoAccessStatistics_WithinItsInterval_InBatches()
    {
        var ws = await _db.CreateWorkspaceAsync("aw_fold");
        var often = await ws.ScalarAsync<Guid>("CALL remember('The badge reader at the side door is broken')");
        var once = await ws.ScalarAsync<Guid>("CALL remember('The side entrance closes at eight')");
        for (var i = 0; i < 5; i++) Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('badge reader', k => 1)"));
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('entrance closes', k => 1)"));
        Assert.Equal(0, await _db.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", often));

        // Batches of 2 hits: the worker keeps folding while batches come back full.
        _worker = new AccessWorker(_db.Admin, new AccessWorkerOptions { IntervalSeconds = 0.2, BatchSize = 2 }, NullLogger<AccessWorker>.Instance);
        await _worker.StartAsync(CancellationToken.None);
        await _worker.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        await EventuallyAsync(async () => await _db.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", often) == 5, "five hits folded");
        await EventuallyAsync(async () => await _db.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", once) == 1, "one hit folded");
        Assert.NotNull(await _db.ScalarAsync<DateTime?>("SELECT last_accessed_at FROM memory.memories WHERE id = $1", often));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.access_log WHERE workspace = $1", ws.Name));

        // Later recalls are folded on the next interval, without a NOTIFY.
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('entrance closes', k => 1)"));
        await EventuallyAsync(async () => await _db.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", once) == 2, "a later hit folded");
        // The worker counts a fold after its transaction committed, so the count may trail what the test already sees.
        await EventuallyAsync(() => Task.FromResult(_worker.Health.Snapshot().Processed >= 7), "seven hits counted in the worker's health");
        var health = _worker.Health.Snapshot();
        Assert.Equal("access", health.Worker);
        Assert.Null(health.LastError);
    }

    [Fact]
    public void AccessWorker_WithInvalidOptions_FailsNamingTheKey()
    {
        var e = Assert.Throws<ArgumentException>(() => new AccessWorker(_db.Admin, new AccessWorkerOptions { IntervalSeconds = 0 }, NullLogger<AccessWorker>.Instance));
        Assert.Contains("Workers:Access:IntervalSeconds must be between 0.1 and 3600", e.Message, StringComparison.Ordinal);
    }
}
