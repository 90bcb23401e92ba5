using MemorySql.Testing;
using MemorySql.Workers.Decay;
using Microsoft.Extensions.Logging.Abstractions;
using static MemorySql.Workers.Tests.EmbedTestSchema;

namespace MemorySql.Workers.Tests.Lifecycle;

public sealed class DecayWorkerTests : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db;
    private DecayWorker? _worker;

    public DecayWorkerTests(TestDatabase db) => _db = db;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_worker is null) return;
        await _worker.StopAsync(CancellationToken.None);
        _worker.Dispose();
    }

    private async Task<Guid> FadedAsync(TestRole ws, string content)
    {
        var id = await ws.ScalarAsync<Guid>("CALL remember($1, importance => 0.3)", content);
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = now() - interval '1 year' WHERE id = $1", id);
        return id;
    }

    [Fact]
    public async Task DecayWorker_RunsAPassAtStart_AndAnotherOnNotify_ArchivingWhatFaded()
    {
        var ws = await _db.CreateWorkspaceAsync("dw_pass");
        var first = await FadedAsync(ws, "The old locker combination was 12-34-56");
        var fresh = await ws.ScalarAsync<Guid>("CALL remember('The new locker combination is 65-43-21', importance => 0.3)");
        _worker = new DecayWorker(_db.Admin, new DecayWorkerOptions { IntervalSeconds = 3600, BatchSize = 2 }, NullLogger<DecayWorker>.Instance);
        await _worker.StartAsync(CancellationToken.None);
        await _worker.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        await EventuallyAsync(async () => await _db.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", first) == "archived", "first pass archived it");
        Assert.Equal("active", await _db.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", fresh));

        // The next pass would be an hour away; a NOTIFY starts one now.
        var second = await FadedAsync(ws, "The old office was on the 3rd floor");
        await _db.ExecuteAsync("SELECT pg_notify('memory_decay', '')");
        await EventuallyAsync(async () => await _db.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", second) == "archived", "second pass archived it");
        await EventuallyAsync(() => Task.FromResult(_worker.Health.Snapshot().Counters.GetValueOrDefault("passes") >= 2), "two passes counted");
        var health = _worker.Health.Snapshot();
        Assert.Equal(2L, health.Counters["archived"]);
        Assert.Equal("decay", health.Worker);
        Assert.Null(health.LastError);
        Assert.Equal(2L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE workspace = $1 AND action = 'archive'", ws.Name));
    }
}
