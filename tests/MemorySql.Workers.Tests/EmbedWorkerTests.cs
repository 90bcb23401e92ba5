using MemorySql.Embeddings;
using MemorySql.Testing;
using MemorySql.Workers.Common;
using MemorySql.Workers.Embed;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using static MemorySql.Workers.Tests.EmbedTestSchema;

namespace MemorySql.Workers.Tests;

/// <summary>The embed worker against a real PostgreSQL. Each test uses its own model name, so tests sharing the class database do not see each other's rows.</summary>
public sealed class EmbedWorkerTests : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db;
    private readonly List<EmbedWorker> _workers = [];

    public EmbedWorkerTests(TestDatabase db) => _db = db;

    public async Task InitializeAsync()
    {
        await EnsureRegisterModelAsync(_db);
        await ClearMemoriesAsync(_db);
    }

    public async Task DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.StopAsync(CancellationToken.None);
            worker.Dispose();
        }
    }

    private static EmbedWorkerOptions Options(Action<EmbedWorkerOptions>? configure = null)
    {
        // One loop unless a test asks for more: several tests count connections or provider calls.
        var options = new EmbedWorkerOptions { BatchSize = 50, Concurrency = 1, PollIntervalSeconds = 0.2, RetryBaseSeconds = 0.05, RetryMaxSeconds = 0.2, MakeDefault = false };
        configure?.Invoke(options);
        return options;
    }

    private async Task<EmbedWorker> StartAsync(IEmbeddingProvider provider, EmbedWorkerOptions? options = null, NpgsqlDataSource? dataSource = null,
        WorkerHealthRegistry? registry = null)
    {
        var worker = new EmbedWorker(dataSource ?? _db.Admin, provider, options ?? Options(), NullLogger<EmbedWorker>.Instance, registry);
        _workers.Add(worker);
        await worker.StartAsync(CancellationToken.None);
        await worker.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return worker;
    }

    private async Task<Dictionary<Guid, float[]>> EmbeddingsAsync(string model)
    {
        var result = new Dictionary<Guid, float[]>();
        await using var command = _db.Admin.CreateCommand("SELECT memory_id, embedding::text FROM memory.embeddings WHERE model = $1");
        command.Parameters.Add(new() { Value = model });
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) result[reader.GetGuid(0)] = VectorText.Parse(reader.GetString(1));
        return result;
    }

    private async Task<Dictionary<Guid, string>> ContentsAsync(IEnumerable<Guid> ids)
    {
        var result = new Dictionary<Guid, string>();
        await using var command = _db.Admin.CreateCommand("SELECT id, content FROM memory.memories WHERE id = ANY($1)");
        command.Parameters.Add(new() { Value = ids.ToArray() });
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) result[reader.GetGuid(0)] = reader.GetString(1);
        return result;
    }

    [Fact]
    public async Task Worker_EmbedsQueuedMemories_AndEmptiesTheQueue()
    {
        var provider = new CountingProvider("t-basic");
        var ids = await InsertQueuedMemoriesAsync(_db, provider.Model, "basic", 230, workspace: "ws_basic");
        var worker = await StartAsync(provider);

        await EventuallyAsync(async () => await QueueCountAsync(_db, provider.Model) == 0, "queue empty");
        await EventuallyAsync(() => Task.FromResult(worker.Health.Snapshot().QueueDepth == 0), "health shows an empty queue");

        var stored = await EmbeddingsAsync(provider.Model);
        Assert.Equal(ids.Order(), stored.Keys.Order());
        var contents = await ContentsAsync(ids);
        foreach (var id in ids)
        {
            var expected = provider.Expected(contents[id]);
            Assert.Equal(expected.Length, stored[id].Length);
            for (var j = 0; j < expected.Length; j++) Assert.Equal(expected[j], stored[id][j]);
        }
        Assert.Equal(230, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.embeddings WHERE model = $1 AND workspace = 'ws_basic'", provider.Model));
        // Counted after each batch commits: the count may trail the rows the test already sees.
        await EventuallyAsync(() => Task.FromResult(worker.Health.Snapshot().Processed == 230), "health counts every memory");
        var health = worker.Health.Snapshot();
        Assert.Equal(230, health.Processed);
        Assert.Equal(230, health.Counters["memories"]);
        Assert.NotNull(health.LastSuccessAt);
        Assert.Null(health.LastError);
        Assert.True(health.Running);
        Assert.Equal("t-basic", health.Target);
        Assert.True(provider.Calls >= 5, "batches of 50 mean at least five provider calls");
    }

    [Fact]
    public async Task Worker_RegistersItsModelOnStart()
    {
        var provider = new CountingProvider("t-register");
        await StartAsync(provider, Options(o => o.MakeDefault = true));
        Assert.Equal(384, await _db.ScalarAsync<int>("SELECT dimension FROM memory.models WHERE name = $1", provider.Model));
        Assert.True(await _db.ScalarAsync<bool>("SELECT is_default FROM memory.models WHERE name = $1", provider.Model));
    }

    [Theory]
    [InlineData(VectorTransfer.Binary)]
    [InlineData(VectorTransfer.Text)]
    public async Task Worker_BothVectorTransfers_StoreTheSameVectors(VectorTransfer transfer)
    {
        var provider = new CountingProvider("t-transfer-" + transfer.ToString().ToLowerInvariant());
        var ids = await InsertQueuedMemoriesAsync(_db, provider.Model, "transfer", 20);
        await StartAsync(provider, Options(o => o.VectorTransfer = transfer));
        await EventuallyAsync(async () => await EmbeddingCountAsync(_db, provider.Model) == 20, "all embedded");
        var stored = await EmbeddingsAsync(provider.Model);
        var contents = await ContentsAsync(ids);
        foreach (var id in ids) Assert.Equal(provider.Expected(contents[id]), stored[id]);
    }

    [Fact]
    public async Task TwoWorkers_NeverEmbedTheSameRowTwice()
    {
        var providerA = new CountingProvider("t-two");
        var providerB = new CountingProvider("t-two");
        var ids = await InsertQueuedMemoriesAsync(_db, "t-two", "two", 1500);
        await Task.WhenAll(
            StartAsync(providerA, Options(o => { o.BatchSize = 25; o.Concurrency = 2; })),
            StartAsync(providerB, Options(o => { o.BatchSize = 25; o.Concurrency = 2; })));

        await EventuallyAsync(async () => await QueueCountAsync(_db, "t-two") == 0, "queue empty");
        Assert.Equal(1500, await EmbeddingCountAsync(_db, "t-two"));
        var contents = (await ContentsAsync(ids)).Values.ToList();
        foreach (var text in contents)
        {
            var total = providerA.Embedded.GetValueOrDefault(text) + providerB.Embedded.GetValueOrDefault(text);
            Assert.True(total == 1, $"'{text}' was embedded {total} times");
        }
        Assert.Equal(1500, providerA.Embedded.Count + providerB.Embedded.Count);
    }

    [Fact]
    public async Task WorkerStoppedMidBatch_LosesNothing_AndAnotherWorkerFinishesExactlyOnce()
    {
        var blocked = new CountingProvider("t-stop") { Gate = new TaskCompletionSource() };
        var ids = await InsertQueuedMemoriesAsync(_db, blocked.Model, "stop", 120);
        var first = await StartAsync(blocked, Options(o => o.BatchSize = 40));
        await blocked.Entered.Task.WaitAsync(TimeSpan.FromSeconds(60));

        // The batch is claimed and in the provider: stop the worker there.
        Assert.True(await _db.ScalarAsync<long>("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'embedding_queue' AND l.mode = 'RowShareLock'") >= 1);
        await first.StopAsync(CancellationToken.None);
        Assert.Equal(0, blocked.CompletedCalls);
        Assert.Equal(120, await QueueCountAsync(_db, blocked.Model));
        Assert.Equal(0, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE model = $1 AND (attempts > 0 OR last_error IS NOT NULL)", blocked.Model));
        Assert.Equal(0, await EmbeddingCountAsync(_db, blocked.Model));

        var second = new CountingProvider("t-stop");
        await StartAsync(second);
        await EventuallyAsync(async () => await QueueCountAsync(_db, second.Model) == 0, "queue empty");
        Assert.Equal(120, await EmbeddingCountAsync(_db, second.Model));
        Assert.Equal(120, second.Embedded.Count);
        Assert.All(second.Embedded.Values, n => Assert.Equal(1, n));
        Assert.Equal(ids.Order(), (await EmbeddingsAsync(second.Model)).Keys.Order());
    }

    [Fact]
    public async Task WorkerWhoseConnectionIsKilledMidBatch_LosesNothing_AndRecovers()
    {
        var provider = new CountingProvider("t-kill") { Gate = new TaskCompletionSource() };
        await InsertQueuedMemoriesAsync(_db, provider.Model, "kill", 90);
        await using var dataSource = NpgsqlDataSource.Create(_db.AdminConnectionString + ";Application Name=embed-under-test");
        var worker = await StartAsync(provider, Options(o => o.BatchSize = 30), dataSource);
        await provider.Entered.Task.WaitAsync(TimeSpan.FromSeconds(60));

        // Kill the claiming transaction's backend (not the LISTEN one), then let the provider return.
        var killed = await _db.ScalarAsync<long>("""
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = 'embed-under-test' AND state = 'idle in transaction'
            """);
        Assert.Equal(1, killed);
        provider.Gate.SetResult();

        await EventuallyAsync(async () => await QueueCountAsync(_db, provider.Model) == 0, "queue empty after recovery");
        Assert.Equal(90, await EmbeddingCountAsync(_db, provider.Model));
        // Health is updated just after each commit: wait for it rather than race it.
        await EventuallyAsync(() => Task.FromResult(worker.Health.Snapshot().Processed == 90), "health counts every row");
        var health = worker.Health.Snapshot();
        Assert.NotNull(health.LastErrorAt);
        Assert.Equal(0, health.Retried); // a lost connection is not a provider failure: no attempt was counted
    }

    [Fact]
    public async Task FailingProvider_LeavesRowsQueuedWithTheErrorRecorded()
    {
        var provider = new CountingProvider("t-fail-once") { Fail = _ => new EmbeddingException("t-fail-once", "provider down for maintenance", isTransient: true) };
        await InsertQueuedMemoriesAsync(_db, provider.Model, "failonce", 10);
        var worker = await StartAsync(provider, Options(o => { o.RetryBaseSeconds = 3600; o.RetryMaxSeconds = 7200; }));

        await EventuallyAsync(async () => await _db.ScalarAsync<long>(
            "SELECT count(*) FROM memory.embedding_queue WHERE model = $1 AND attempts = 1", provider.Model) == 10, "attempt recorded");
        Assert.Equal(10, await _db.ScalarAsync<long>("""
            SELECT count(*) FROM memory.embedding_queue
            WHERE model = $1 AND state = 'queued' AND last_error LIKE '%provider down for maintenance%'
              AND run_after > now() + interval '20 minutes'
            """, provider.Model));
        Assert.Equal(0, await EmbeddingCountAsync(_db, provider.Model));
        await EventuallyAsync(() => Task.FromResult(worker.Health.Snapshot().Retried == 10), "health counts the retries");
        var health = worker.Health.Snapshot();
        Assert.Contains("provider down for maintenance", health.LastError, StringComparison.Ordinal);
        Assert.Equal(0, health.Failed);
    }

    [Fact]
    public async Task FailingProvider_MarksRowsFailedAfterMaxAttempts()
    {
        var provider = new CountingProvider("t-fail-max") { Fail = _ => new EmbeddingException("t-fail-max", "HTTP 503: overloaded", isTransient: true) };
        await InsertQueuedMemoriesAsync(_db, provider.Model, "failmax", 8);
        var worker = await StartAsync(provider, Options(o => o.MaxAttempts = 3));

        await EventuallyAsync(async () => await QueueCountAsync(_db, provider.Model, "failed") == 8, "rows failed");
        Assert.Equal(8, await _db.ScalarAsync<long>(
            "SELECT count(*) FROM memory.embedding_queue WHERE model = $1 AND attempts = 3 AND last_error = 'HTTP 503: overloaded'", provider.Model));
        await EventuallyAsync(() => Task.FromResult(worker.Health.Snapshot().FailedDepth == 8), "health counts failed rows");
        var health = worker.Health.Snapshot();
        Assert.Equal(8, health.Failed);
        Assert.Equal(16, health.Retried);
        // Each retry is jittered per row, so the rows may come back in more than one batch.
        Assert.InRange(provider.Calls, 3, 24);

        // Failed rows are never claimed again: the provider is not called any more.
        var calls = provider.Calls;
        await _db.ExecuteAsync("SELECT pg_notify('memory_embed', $1)", provider.Model);
        await Task.Delay(500);
        Assert.Equal(calls, provider.Calls);
    }

    [Fact]
    public async Task RejectedText_IsIsolated_AndTheRestOfTheBatchIsEmbedded()
    {
        var provider = new CountingProvider("t-poison")
        {
            Fail = texts => texts.Any(t => t.Contains("poison memory 3 ", StringComparison.Ordinal))
                ? new EmbeddingException("t-poison", "input 'poison memory 3' is too long for the model", isTransient: false)
                : null,
        };
        await InsertQueuedMemoriesAsync(_db, provider.Model, "poison", 12);
        await StartAsync(provider, Options(o => o.MaxAttempts = 1));

        await EventuallyAsync(async () => await EmbeddingCountAsync(_db, provider.Model) == 11, "the good rows embedded");
        await EventuallyAsync(async () => await QueueCountAsync(_db, provider.Model, "failed") == 1, "the bad row failed");
        Assert.Equal(0, await QueueCountAsync(_db, provider.Model));
        Assert.Contains("too long", await _db.ScalarAsync<string>("SELECT last_error FROM memory.embedding_queue WHERE model = $1", provider.Model), StringComparison.Ordinal);
        Assert.Equal("poison memory 3 about topic 3", await _db.ScalarAsync<string>(
            "SELECT m.content FROM memory.embedding_queue q JOIN memory.memories m ON m.id = q.memory_id WHERE q.model = $1", provider.Model));
    }

    [Fact]
    public async Task Notify_WakesAnIdleWorker()
    {
        var provider = new CountingProvider("t-notify");
        // Polling once an hour: only the NOTIFY can make this batch happen within the test.
        var worker = await StartAsync(provider, Options(o => o.PollIntervalSeconds = 3600));
        // The first (empty) drain ends with a queue count; after it the loop sleeps until woken.
        await EventuallyAsync(() => Task.FromResult(worker.Health.Snapshot().QueueCheckedAt is not null), "first drain done");
        Assert.Equal(0, provider.Calls);

        await InsertQueuedMemoriesAsync(_db, provider.Model, "notify", 5);
        await _db.ExecuteAsync("SELECT pg_notify('memory_embed', $1)", provider.Model);
        await EventuallyAsync(async () => await EmbeddingCountAsync(_db, provider.Model) == 5, "embedded after NOTIFY");
    }

    [Fact]
    public async Task QueryEmbeddings_WithoutVector_AreFilled()
    {
        var provider = new CountingProvider("t-query");
        await _db.ExecuteAsync("INSERT INTO memory.models (name, dimension) VALUES ($1, 384) ON CONFLICT DO NOTHING", provider.Model);
        await _db.ExecuteAsync("""
            INSERT INTO memory.query_embeddings (workspace, model, query_hash, query)
            SELECT 'ws_q', $1, sha256(convert_to(q, 'UTF8')), q
            FROM unnest(ARRAY['where does Dana like to sit?', 'what is Sam allergic to?', 'budget review date']) AS q
            """, provider.Model);
        await StartAsync(provider);

        await EventuallyAsync(async () => await _db.ScalarAsync<long>(
            "SELECT count(*) FROM memory.query_embeddings WHERE model = $1 AND embedding IS NULL", provider.Model) == 0, "queries embedded");
        var stored = VectorText.Parse((await _db.ScalarAsync<string>(
            "SELECT embedding::text FROM memory.query_embeddings WHERE model = $1 AND query = 'what is Sam allergic to?'", provider.Model))!);
        Assert.Equal(provider.Expected("what is Sam allergic to?"), stored);
    }

    [Fact]
    public async Task QueryEmbeddings_ProviderFailure_CountsAttemptsAndStops()
    {
        var provider = new CountingProvider("t-query-fail") { Fail = _ => new EmbeddingException("t-query-fail", "no route to host", isTransient: true) };
        await _db.ExecuteAsync("INSERT INTO memory.models (name, dimension) VALUES ($1, 384) ON CONFLICT DO NOTHING", provider.Model);
        await _db.ExecuteAsync("INSERT INTO memory.query_embeddings (workspace, model, query_hash, query) VALUES ('ws_q', $1, '\\x01', 'q')", provider.Model);
        await StartAsync(provider, Options(o => o.MaxAttempts = 2));

        await EventuallyAsync(async () => await _db.ScalarAsync<int>(
            "SELECT attempts FROM memory.query_embeddings WHERE model = $1", provider.Model) == 2, "attempts counted");
        Assert.Equal("no route to host", await _db.ScalarAsync<string>("SELECT last_error FROM memory.query_embeddings WHERE model = $1", provider.Model));
        await Task.Delay(500);
        Assert.Equal(2, provider.Calls);
    }

    [Fact]
    public async Task DeletedMemory_IsDequeuedWithoutEmbedding()
    {
        var provider = new CountingProvider("t-deleted");
        await InsertQueuedMemoriesAsync(_db, provider.Model, "gone", 3, status: "deleted");
        await InsertQueuedMemoriesAsync(_db, provider.Model, "kept", 2);
        await StartAsync(provider);

        await EventuallyAsync(async () => await _db.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE model = $1", provider.Model) == 0, "queue empty");
        Assert.Equal(2, await EmbeddingCountAsync(_db, provider.Model));
        Assert.DoesNotContain(provider.Embedded.Keys, t => t.StartsWith("gone", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RowsScheduledForLater_AndOtherModels_AreLeftAlone()
    {
        var provider = new CountingProvider("t-later");
        // Registered first: registering a model queues every active memory for it, the other model's too.
        await StartAsync(provider);
        await InsertQueuedMemoriesAsync(_db, provider.Model, "later", 4, runAfter: "now() + interval '1 hour'");
        await InsertQueuedMemoriesAsync(_db, "t-other-model", "other", 4);
        await InsertQueuedMemoriesAsync(_db, provider.Model, "ready", 3);
        await _db.ExecuteAsync("SELECT pg_notify('memory_embed', $1)", provider.Model);

        await EventuallyAsync(async () => await EmbeddingCountAsync(_db, provider.Model) == 3, "ready rows embedded");
        await Task.Delay(500);
        Assert.Equal(4, await QueueCountAsync(_db, provider.Model));
        Assert.Equal(4, await QueueCountAsync(_db, "t-other-model"));
        Assert.Equal(0, await EmbeddingCountAsync(_db, "t-other-model"));
    }

    [Fact]
    public async Task RequeuedMemory_ReplacesItsEmbedding()
    {
        var provider = new CountingProvider("t-upsert");
        var ids = await InsertQueuedMemoriesAsync(_db, provider.Model, "upsert", 1);
        await StartAsync(provider);
        await EventuallyAsync(async () => await EmbeddingCountAsync(_db, provider.Model) == 1, "embedded");

        await _db.ExecuteAsync("UPDATE memory.memories SET content = 'completely different words now' WHERE id = $1", ids[0]);
        await _db.ExecuteAsync("INSERT INTO memory.embedding_queue (memory_id, model, workspace) VALUES ($1, $2, 'ws_test')", ids[0], provider.Model);
        await _db.ExecuteAsync("SELECT pg_notify('memory_embed', $1)", provider.Model);
        await EventuallyAsync(async () => await QueueCountAsync(_db, provider.Model) == 0, "re-embedded");

        var stored = (await EmbeddingsAsync(provider.Model))[ids[0]];
        Assert.Equal(provider.Expected("completely different words now"), stored);
    }

    [Fact]
    public async Task HealthRegistry_ListsTheWorker()
    {
        var registry = new WorkerHealthRegistry();
        var provider = new CountingProvider("t-registry");
        await StartAsync(provider, registry: registry);
        var snapshot = Assert.Single(registry.Snapshot());
        Assert.Equal("embed", snapshot.Worker);
        Assert.Equal("t-registry", snapshot.Target);
        Assert.True(snapshot.Running);
        Assert.NotNull(snapshot.StartedAt);
    }
}
