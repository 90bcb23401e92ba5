using MemorySql.Embeddings.Llm;
using MemorySql.Testing;
using MemorySql.Workers.Check;
using Npgsql;
using static MemorySql.Workers.Tests.EmbedTestSchema;
using static MemorySql.Workers.Tests.Lifecycle.LifecycleData;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>Workers killed mid-batch, stalled past their lease, or racing each other: every effect happens exactly once.</summary>
public sealed class CheckWorkerRecoveryTests(TestDatabase db) : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db = db;
    private readonly CheckWorkers _workers = new(db);

    public Task InitializeAsync() => RegisterModelAsync(_db);

    public Task DisposeAsync() => _workers.DisposeAsync().AsTask();

    private Task<CheckWorker> StartAsync(string applicationName, CheckWorkerOptions options, ILlmProvider? llm = null) =>
        _workers.StartAsync(options, llm, applicationName);

    private static CheckWorkerOptions Options(double leaseSeconds = 300, int concurrency = 1, int batch = 8) =>
        CheckWorkers.Options(o => (o.BatchSize, o.LeaseSeconds, o.Concurrency) = (batch, leaseSeconds, concurrency));

    private static object Updates(string older, string newer) => new { verdict = "updates", current = "newer", confidence = 0.9, reason = "scripted" };

    /// <summary>Three "lives in" pairs in three entities; returns the older memory of each pair.</summary>
    private static async Task<List<Guid>> PairsAsync(TestRole ws)
    {
        var olders = new List<Guid>();
        foreach (var (entity, from, to) in new[] { ("ana", "Lisbon", "Porto"), ("ben", "Oslo", "Bergen"), ("cy", "Lyon", "Nice") })
        {
            olders.Add(await RememberAsync(ws, $"{entity} lives in {from} with her family", entity: entity));
            await RememberAsync(ws, $"{entity} lives in {to} with her family", entity: entity);
        }
        return olders;
    }

    private async Task AssertEachPairDecidedOnceAsync(TestRole ws, List<Guid> olders)
    {
        foreach (var id in olders) Assert.Equal("superseded", await StatusAsync(_db, id));
        Assert.Equal(3L, await EventsAsync(_db, ws.Name, "supersede"));
        Assert.Equal(3L, await EventsAsync(_db, ws.Name, "contradiction"));
        Assert.Equal(3L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.contradiction_cases"));
        Assert.Equal(3L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE relation = 'contradicts'"));
        Assert.Equal(0L, await QueuedChecksAsync(_db, ws.Name));
    }

    [Fact]
    public async Task AWorkerStalledPastItsLease_LosesItsRows_AndAppliesNothing()
    {
        var ws = await _db.CreateWorkspaceAsync("rec_stall");
        var olders = await PairsAsync(ws);
        var stuck = new ScriptedLlm { Answer = Updates, Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var zombie = await StartAsync("rec-zombie", Options(leaseSeconds: 1), stuck);
        await stuck.Entered.Task.WaitAsync(TimeSpan.FromSeconds(60));     // mid-batch, holding leases, inside an LLM call

        // Its leases run out; a healthy worker takes the rows over and decides every pair.
        var healthy = await StartAsync("rec-healthy", Options(leaseSeconds: 300), new ScriptedLlm { Answer = Updates });
        await DrainedAsync(_db, ws.Name);
        await AssertEachPairDecidedOnceAsync(ws, olders);

        // The stalled worker wakes up: its lease is gone, so its plan is dropped.
        stuck.Gate.SetResult();
        await EventuallyAsync(() => Task.FromResult(zombie.Health.Snapshot().Counters.GetValueOrDefault("lost_leases") >= 1), "the stalled worker noticed");
        await AssertEachPairDecidedOnceAsync(ws, olders);
        await EventuallyAsync(() => Task.FromResult(healthy.Health.Snapshot().Processed >= 3), "the healthy worker counted its pairs");
    }

    [Fact]
    public async Task AWorkerKilledInsideItsApplyTransaction_LeavesNothingBehind_AndTheRowsAreCheckedOnceLater()
    {
        var ws = await _db.CreateWorkspaceAsync("rec_kill");
        var olders = await PairsAsync(ws);
        // Hold one memory of the first pair, so the worker's apply transaction blocks on it mid-way.
        await using var blocker = new NpgsqlConnection(_db.AdminConnectionString);
        await blocker.OpenAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await using (var lockRow = new NpgsqlCommand("SELECT 1 FROM memory.memories WHERE id = $1 FOR UPDATE", blocker))
        {
            lockRow.Parameters.Add(new NpgsqlParameter { Value = olders[0] });
            await lockRow.ExecuteNonQueryAsync();
        }
        await StartAsync("rec-victim", Options(leaseSeconds: 2));
        await EventuallyAsync(async () => await _db.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rec-victim' AND wait_event_type = 'Lock'") == 1, "the victim blocked in its apply transaction");
        // Kill its backend: the transaction dies half-way through the plan.
        Assert.True(await _db.ScalarAsync<bool>(
            "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'rec-victim' AND wait_event_type = 'Lock'"));
        await hold.RollbackAsync();

        // The victim's loop backs off and carries on; the killed row comes back when its lease runs out.
        await DrainedAsync(_db, ws.Name);
        await AssertEachPairDecidedOnceAsync(ws, olders);
    }

    [Fact]
    public async Task TwoWorkersRacing_MergeEachDuplicateExactlyOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("rec_race");
        // 40 entities, each with three near-identical memories written in order: the first absorbs the other two.
        const int entities = 40;
        var firsts = new List<Guid>();
        for (var e = 0; e < entities; e++)
        {
            firsts.Add(await RememberAsync(ws, $"Note number {e} for person {e}", entity: $"p{e}"));
            await RememberAsync(ws, $"note number {e} for person {e}.", entity: $"p{e}");
            await RememberAsync(ws, $"Note number {e} for person {e}!", entity: $"p{e}");
        }
        var a = await StartAsync("rec-race-a", Options(concurrency: 2, batch: 5));
        var b = await StartAsync("rec-race-b", Options(concurrency: 2, batch: 5));
        await DrainedAsync(_db, ws.Name);

        var failures = await ws.DataSource.QueryAsync("SELECT state, last_error FROM memory.check_status");
        Assert.True(failures.Count == 0, string.Join("; ", failures.Select(f => $"{f["state"]}: {f["last_error"]}")));
        Assert.Equal(2L * entities, await EventsAsync(_db, ws.Name, "merge"));
        Assert.Equal(2L * entities, await EventsAsync(_db, ws.Name, "absorb"));
        Assert.Equal((long)entities, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE status = 'active'"));
        foreach (var id in firsts)
        {
            Assert.Equal("active", await StatusAsync(_db, id));
            Assert.Equal(2, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", id));  // one per absorbed duplicate
        }
        // Every duplicate went straight into the first version, not along a chain.
        Assert.Equal(2L * entities, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE status = 'superseded' AND superseded_by = ANY ($1)", firsts.ToArray()));
        var merged = a.Health.Snapshot().Counters.GetValueOrDefault("merged") + b.Health.Snapshot().Counters.GetValueOrDefault("merged");
        Assert.Equal(2L * entities, merged);
    }
}
