using System.Text.Json;
using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Testing;
using MemorySql.Workers.Common;
using MemorySql.Workers.Extraction;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using static MemorySql.Workers.Tests.EmbedTestSchema;

namespace MemorySql.Workers.Tests;

/// <summary>The extraction worker against a real PostgreSQL and, for the LLM path, a scripted OpenAI-compatible server.</summary>
public sealed class ExtractionWorkerTests : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private const string Conversation = """
        [{"role": "user", "content": "Hi! I moved to Porto last month. Can you update my address?", "timestamp": "2024-03-01T09:00:00Z"},
         {"role": "assistant", "content": "Done. I have updated your profile."},
         {"role": "user", "content": "Thanks. I'm allergic to peanuts, and I prefer window seats.", "timestamp": "2024-03-01T09:01:00Z"}]
        """;

    private readonly TestDatabase _db;
    private readonly List<IAsyncDisposable> _cleanup = [];

    public ExtractionWorkerTests(TestDatabase db) => _db = db;

    public async Task InitializeAsync() => await _db.ExecuteAsync("DELETE FROM memory.extraction_queue");

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--) await _cleanup[i].DisposeAsync();
    }

    private static ExtractionWorkerOptions Options(Action<ExtractionWorkerOptions>? configure = null)
    {
        var options = new ExtractionWorkerOptions { Concurrency = 1, PollIntervalSeconds = 0.2, RetryBaseSeconds = 0.05, RetryMaxSeconds = 0.2, MaxAttempts = 3 };
        configure?.Invoke(options);
        return options;
    }

    private async Task<(ExtractionWorker Worker, LlmUsageWriter Usage)> StartAsync(ILlmProvider? llm = null, ExtractionWorkerOptions? options = null)
    {
        var usage = new LlmUsageWriter(_db.Admin, NullLogger<LlmUsageWriter>.Instance);
        await usage.StartAsync(CancellationToken.None);
        var worker = new ExtractionWorker(_db.Admin, options ?? Options(), llm, usage, NullLogger<ExtractionWorker>.Instance, new WorkerHealthRegistry());
        await worker.StartAsync(CancellationToken.None);
        await worker.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        _cleanup.Add(new Stopper(async () =>
        {
            await worker.StopAsync(CancellationToken.None);
            worker.Dispose();
            await usage.StopAsync(CancellationToken.None);
            usage.Dispose();
        }));
        return (worker, usage);
    }

    private OpenAiLlmProvider Llm(FakeLlmServer server, Action<OpenAiLlmOptions>? configure = null)
    {
        var options = new OpenAiLlmOptions { BaseUrl = server.BaseUrl, Model = "fake-extractor", RetryBaseDelaySeconds = 0.01, TimeoutSeconds = 10, MaxRetries = 2 };
        configure?.Invoke(options);
        var provider = new OpenAiLlmProvider(options);
        _cleanup.Add(new Stopper(() => { provider.Dispose(); return ValueTask.CompletedTask; }));
        return provider;
    }

    private async Task<FakeLlmServer> ServerAsync(Func<LlmCall, LlmReply> script)
    {
        var server = new FakeLlmServer(script);
        _cleanup.Add(server);
        return server;
    }

    private Task WaitForQueueAsync(Guid resource, string what = "extraction done") =>
        EventuallyAsync(async () => await _db.ScalarAsync<long>("SELECT count(*) FROM memory.extraction_queue WHERE resource_id = $1", resource) == 0, what);

    private static async Task<Guid> IngestAsync(TestRole ws, string messages, string entity = "dana") =>
        await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => $2)", messages, entity);

    [Fact]
    public async Task Heuristics_WithoutAnLlm_ExtractFirstPersonStatements_LinkedToTheResource_AndSaySo()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_heur");
        var resource = await IngestAsync(ws, Conversation);
        await StartAsync();
        await WaitForQueueAsync(resource);

        var memories = await ws.DataSource.QueryAsync(
            "SELECT content, kind, type, entity, source_id, valid_from, metadata::text AS metadata FROM memory.memories ORDER BY content");
        Assert.Equal(new[] { "Dana is allergic to peanuts.", "Dana moved to Porto last month.", "Dana prefers window seats." },
            memories.Select(m => (string)m["content"]!).ToArray());
        Assert.All(memories, m => Assert.Equal(resource, m["source_id"]));
        Assert.All(memories, m => Assert.Equal("dana", m["entity"]));
        Assert.Equal(("event", "episodic"), ((string)memories[1]["kind"]!, (string)memories[1]["type"]!));
        Assert.Equal(new DateTime(2024, 3, 1, 9, 0, 0, DateTimeKind.Utc), ((DateTime)memories[1]["valid_from"]!).ToUniversalTime());
        Assert.Contains("\"mode\": \"heuristic\"", (string)memories[0]["metadata"]!, StringComparison.Ordinal);

        var extraction = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT extraction::text FROM memory.resources WHERE id = $1", resource))!).RootElement;
        Assert.Equal("heuristic", extraction.GetProperty("mode").GetString());
        Assert.Contains("no LLM is configured", extraction.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, extraction.GetProperty("items").GetInt32());
        Assert.NotNull(await ws.ScalarAsync<DateTime?>("SELECT extracted_at FROM memory.resources WHERE id = $1", resource));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'extract' AND detail ->> 'resource' = $1", resource.ToString()));
        // Written through memory.store: queued for embedding like any remembered memory.
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.memories m WHERE m.source_id = $1 AND m.workspace = $2", resource, ws.Name));
    }

    [Fact]
    public async Task DeadlockWithAnotherWriter_RetriesTheResourceSoon_WithoutCountingAnAttempt()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_deadlock");
        var resource = await IngestAsync(ws, """[{"role": "user", "content": "I live in Lisbon. I work at Acme."}]""");
        // Another writer (a second extraction batch, a client) holds the second fact, uncommitted.
        await using var other = await ws.OpenAsync();
        await using var transaction = await other.BeginTransactionAsync();
        await using (var first = new NpgsqlCommand("CALL remember('Dana works at Acme.', entity => 'dana')", other, transaction))
            await first.ExecuteNonQueryAsync();

        // A failure backoff this long would outlast the test: the resource must come back by another way.
        var (worker, _) = await StartAsync(options: Options(o => { o.Concurrency = 1; o.RetryBaseSeconds = 300; o.RetryMaxSeconds = 600; }));
        await EventuallyAsync(async () => await _db.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") >= 1,
            "the worker waiting for the other writer's fact, having written the first one");
        // Now the other writer wants the worker's first fact: a deadlock, broken by failing the worker, which waited first.
        await using (var second = new NpgsqlCommand("CALL remember('Dana lives in Lisbon.', entity => 'dana')", other, transaction))
            await second.ExecuteNonQueryAsync();
        await transaction.CommitAsync();

        await EventuallyAsync(async () => await _db.ScalarAsync<long>("SELECT count(*) FROM memory.extraction_queue WHERE resource_id = $1", resource) == 0,
            "the resource extracted after the conflict", TimeSpan.FromSeconds(30));
        var health = worker.Health.Snapshot();
        Assert.Equal((1L, 0L, 0L), (health.Counters["write_conflicts"], health.Retried, health.Failed));
        // Both facts once, each written by the other writer and bumped by the extraction.
        var memories = await ws.DataSource.QueryAsync("SELECT content, access_count FROM memory.memories ORDER BY content");
        Assert.Equal(new[] { ("Dana lives in Lisbon.", 1), ("Dana works at Acme.", 1) }, memories.Select(m => ((string)m["content"]!, (int)m["access_count"]!)));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'extract'"));
    }

    [Fact]
    public async Task ReIngestingOrReRunning_AddsNothing()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_idem");
        var resource = await IngestAsync(ws, Conversation);
        await StartAsync();
        await WaitForQueueAsync(resource);
        var count = await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories");

        Assert.Equal(resource, await IngestAsync(ws, Conversation));       // same conversation: same resource, nothing queued
        await _db.ExecuteAsync("INSERT INTO memory.extraction_queue (resource_id, workspace) VALUES ($1, $2)", resource, ws.Name);
        await _db.ExecuteAsync("NOTIFY memory_extract");
        await WaitForQueueAsync(resource, "re-run done");                   // run again, as after a crash before the dequeue
        Assert.Equal(count, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        // The re-run found the same statements and bumped the memories instead of adding copies.
        Assert.Equal(count, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE access_count = 1"));
    }

    [Fact]
    public async Task Llm_ExtractsSchemaValidatedMemories_AttributedToSpeakers_WithUsageRecorded()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_llm");
        var server = await ServerAsync(_ => LlmReply.Json(new JsonObject
        {
            ["memories"] = new JsonArray(
                new JsonObject { ["content"] = "Dana moved to Porto in February 2024.", ["kind"] = "event", ["type"] = "episodic", ["entity"] = "dana", ["importance"] = 0.6, ["message"] = 1 },
                new JsonObject { ["content"] = "Dana is allergic to peanuts.", ["kind"] = "fact", ["type"] = "semantic", ["entity"] = "dana", ["importance"] = 0.95, ["message"] = 3 }),
        }, promptTokens: 410, completionTokens: 60));
        var resource = await IngestAsync(ws, Conversation);
        await StartAsync(Llm(server));
        await WaitForQueueAsync(resource);

        var memories = await ws.DataSource.QueryAsync("SELECT content, kind, importance, valid_from, metadata::text AS metadata FROM memory.memories ORDER BY importance");
        Assert.Equal(new[] { "Dana moved to Porto in February 2024.", "Dana is allergic to peanuts." }, memories.Select(m => (string)m["content"]!).ToArray());
        Assert.Equal(0.95f, (float)memories[1]["importance"]!, 3);
        Assert.Equal(new DateTime(2024, 3, 1, 9, 1, 0, DateTimeKind.Utc), ((DateTime)memories[1]["valid_from"]!).ToUniversalTime());
        Assert.Contains("\"mode\": \"llm\"", (string)memories[0]["metadata"]!, StringComparison.Ordinal);

        var call = Assert.Single(server.Calls);
        Assert.Equal("memorysql_extract", call.SchemaName);
        Assert.Contains("I'm allergic to peanuts", call.Prompt, StringComparison.Ordinal);
        Assert.Contains("[3] 2024-03-01 09:01 UTC user:", call.Prompt, StringComparison.Ordinal);
        var entity = call.Body.GetProperty("response_format").GetProperty("json_schema").GetProperty("schema")
            .GetProperty("properties").GetProperty("memories").GetProperty("items").GetProperty("properties").GetProperty("entity");
        Assert.Equal("[\"dana\"]", entity.GetProperty("enum").GetRawText());

        var extraction = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT extraction::text FROM memory.resources WHERE id = $1", resource))!).RootElement;
        Assert.Equal(("llm", 410), (extraction.GetProperty("mode").GetString(), extraction.GetProperty("prompt_tokens").GetInt32()));
        var usage = Assert.Single(await ws.DataSource.QueryAsync("SELECT purpose, model, prompt_tokens, completion_tokens, ok FROM memory.llm_usage"));
        Assert.Equal(("extract", "fake-extractor", 410, 60, true), ((string)usage["purpose"]!, (string)usage["model"]!, (int)usage["prompt_tokens"]!, (int)usage["completion_tokens"]!, (bool)usage["ok"]!));
    }

    [Fact]
    public async Task Llm_ServerErrorsAndRateLimits_AreRetried_AndTheResourceIsExtractedOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_retry");
        var server = await ServerAsync(c => c.Number switch
        {
            1 => LlmReply.Error(503, "overloaded"),
            2 => LlmReply.Error(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "1" }),
            _ => LlmReply.Json(new JsonObject { ["memories"] = new JsonArray(new JsonObject { ["content"] = "Dana prefers window seats.", ["kind"] = "preference", ["type"] = "semantic", ["entity"] = "dana", ["importance"] = 0.5, ["message"] = 3 }) }),
        });
        var resource = await IngestAsync(ws, Conversation);
        await StartAsync(Llm(server));
        await WaitForQueueAsync(resource);
        Assert.Equal(new[] { "Dana prefers window seats." }, (await ws.DataSource.QueryAsync("SELECT content FROM memory.memories")).Select(r => (string)r["content"]!).ToArray());
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Llm_InvalidJsonTwice_FailsTheResourceVisibly_AfterItsAttempts_WritingNothing_AndCountingTheTokens()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_bad");
        var server = await ServerAsync(_ => LlmReply.Chat("Dana moved to Porto and is allergic to peanuts.", 200, 30));
        var resource = await IngestAsync(ws, Conversation);
        await StartAsync(Llm(server), Options(o => o.MaxAttempts = 2));
        await EventuallyAsync(async () => await _db.ScalarAsync<string>("SELECT state FROM memory.extraction_queue WHERE resource_id = $1", resource) == "failed",
            "the resource failed for good");

        var status = Assert.Single(await ws.DataSource.QueryAsync("SELECT state, attempts, last_error FROM memory.extraction_status WHERE resource_id = $1", resource));
        Assert.Equal(2, status["attempts"]);
        Assert.Contains("did not return valid JSON", (string)status["last_error"]!, StringComparison.Ordinal);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        Assert.Null(await ws.ScalarAsync<DateTime?>("SELECT extracted_at FROM memory.resources WHERE id = $1", resource));
        Assert.Equal(4, server.RequestCount); // two attempts, each with one repair
        await EventuallyAsync(async () => await ws.ScalarAsync<long>("SELECT count(*) FROM memory.llm_usage WHERE NOT ok") == 2, "usage of both attempts");
        Assert.Equal(920L, await ws.ScalarAsync<long>("SELECT sum(prompt_tokens + completion_tokens)::bigint FROM memory.llm_usage"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'extraction_queue' AND key = 'failed'"));
    }

    [Fact]
    public async Task Llm_Timeout_LeavesTheResourceQueued_WithTheErrorAndALaterRunAfter()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_slow");
        var server = new FakeLlmServer(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return LlmReply.Chat("{}");
        });
        _cleanup.Add(server);
        var resource = await IngestAsync(ws, Conversation);
        await StartAsync(Llm(server, o => { o.TimeoutSeconds = 0.3; o.MaxRetries = 1; }), Options(o => { o.RetryBaseSeconds = 600; o.RetryMaxSeconds = 600; }));
        await EventuallyAsync(async () => await _db.ScalarAsync<int>("SELECT attempts FROM memory.extraction_queue WHERE resource_id = $1", resource) == 1, "one failed attempt");

        var row = Assert.Single(await _db.Admin.QueryAsync("SELECT state, last_error, run_after > now() + interval '1 minute' AS later FROM memory.extraction_queue WHERE resource_id = $1", resource));
        Assert.Equal("queued", row["state"]);
        Assert.Contains("Llm:OpenAI:TimeoutSeconds", (string)row["last_error"]!, StringComparison.Ordinal);
        Assert.Equal(true, row["later"]);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
    }

    [Fact]
    public async Task StoppedMidCall_WritesNothing_AndTheNextWorkerExtractsOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_kill");
        var arrived = new TaskCompletionSource();
        var hanging = new FakeLlmServer(async (_, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromMinutes(5), ct);
            return LlmReply.Chat("{}");
        });
        _cleanup.Add(hanging);
        var resource = await IngestAsync(ws, Conversation);
        var (worker, _) = await StartAsync(Llm(hanging));
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await worker.StopAsync(CancellationToken.None);   // killed mid-batch: the claim rolls back

        Assert.Equal(0, await _db.ScalarAsync<int>("SELECT attempts FROM memory.extraction_queue WHERE resource_id = $1", resource));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));

        var good = await ServerAsync(_ => LlmReply.Json(new JsonObject { ["memories"] = new JsonArray(new JsonObject { ["content"] = "Dana lives in Porto.", ["kind"] = "fact", ["type"] = "semantic", ["entity"] = "dana", ["importance"] = 0.5, ["message"] = 1 }) }));
        await StartAsync(Llm(good));
        await WaitForQueueAsync(resource);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
    }

    [Fact]
    public async Task OverBudget_FallsBackToHeuristics_AndSaysSo_InTheResourceTheItemsAndTheAudit()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_budget");
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"llm.budget_tokens_per_day\": 300}')", ws.Name);
        var server = await ServerAsync(_ => LlmReply.Json(new JsonObject { ["memories"] = new JsonArray() }, promptTokens: 280, completionTokens: 40));
        var first = await IngestAsync(ws, """[{"role": "user", "content": "I collect stamps."}]""");
        await StartAsync(Llm(server));
        await WaitForQueueAsync(first);
        var second = await IngestAsync(ws, Conversation);
        await WaitForQueueAsync(second);

        Assert.Equal(1, server.RequestCount);
        var extraction = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT extraction::text FROM memory.resources WHERE id = $1", second))!).RootElement;
        Assert.Equal("heuristic", extraction.GetProperty("mode").GetString());
        Assert.Contains("budget", extraction.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("budget", await ws.ScalarAsync<string>("SELECT metadata -> 'extraction' ->> 'offline_reason' FROM memory.memories WHERE source_id = $1 LIMIT 1", second), StringComparison.Ordinal);
        Assert.Contains("budget", await ws.ScalarAsync<string>("SELECT detail ->> 'offline_reason' FROM memory.events WHERE action = 'extract' AND detail ->> 'resource' = $1", second.ToString()), StringComparison.Ordinal);
        Assert.Equal(3L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE source_id = $1", second));
    }

    [Fact]
    public async Task SessionCommit_PromotesWorkingMemory_ThroughExtraction()
    {
        var ws = await _db.CreateWorkspaceAsync("ex_session");
        await using var conn = await ws.OpenAsync();
        var session = await conn.ScalarAsync<Guid>("SELECT session_start('dana', 'travel-agent')");
        await conn.ExecAsync("SELECT session_set('seat', '\"Dana asked for an aisle seat to Oslo\"')");
        await conn.ExecAsync("SELECT session_set('budget', '{\"max_eur\": 400}')");
        Assert.Equal(2, await conn.ScalarAsync<int>("CALL session_commit(kind => 'travel', importance => 0.7, tags => '{trip}')"));
        var resource = await conn.ScalarAsync<Guid>("SELECT id FROM memory.resources WHERE session_id = $1", session);
        await StartAsync();
        await WaitForQueueAsync(resource);

        var memories = await conn.QueryAsync("SELECT content, kind, type, importance, tags, session_id, process, metadata ->> 'session_key' AS key FROM memory.memories ORDER BY content");
        Assert.Equal(new[] { "Dana asked for an aisle seat to Oslo", "budget: {\"max_eur\": 400}" }, memories.Select(m => (string)m["content"]!).ToArray());
        Assert.All(memories, m => Assert.Equal(("travel", "episodic", 0.7f, session, "travel-agent"),
            ((string)m["kind"]!, (string)m["type"]!, (float)m["importance"]!, (Guid)m["session_id"]!, (string)m["process"]!)));
        Assert.Equal(new[] { "trip" }, (string[])memories[0]["tags"]!);
        Assert.Equal("seat", memories[0]["key"]);
    }

    private sealed class Stopper(Func<ValueTask> stop) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => stop();
    }
}
