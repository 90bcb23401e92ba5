using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Testing;
using MemorySql.Workers.Common;
using MemorySql.Workers.Llm;
using MemorySql.Workers.Reflection;
using Microsoft.Extensions.Logging.Abstractions;
using static MemorySql.Workers.Tests.EmbedTestSchema;

namespace MemorySql.Workers.Tests;

/// <summary>The reflection worker against a real PostgreSQL and, for the LLM path, a scripted OpenAI-compatible server.</summary>
public sealed class ReflectionWorkerTests : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db;
    private readonly List<Func<Task>> _cleanup = [];

    public ReflectionWorkerTests(TestDatabase db) => _db = db;

    public Task InitializeAsync() => _db.ExecuteAsync("DELETE FROM memory.reflection_queue; DELETE FROM memory.reflection_groups");

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--) await _cleanup[i]();
    }

    private async Task<ReflectionWorker> StartAsync(ILlmProvider? llm = null, Action<ReflectionWorkerOptions>? configure = null)
    {
        var options = new ReflectionWorkerOptions { IntervalSeconds = 0.2, DebounceSeconds = 0, RetryBaseSeconds = 0.05, RetryMaxSeconds = 0.2 };
        configure?.Invoke(options);
        var usage = new LlmUsageWriter(_db.Admin, NullLogger<LlmUsageWriter>.Instance);
        await usage.StartAsync(CancellationToken.None);
        var worker = new ReflectionWorker(_db.Admin, options, llm, usage, NullLogger<ReflectionWorker>.Instance, new WorkerHealthRegistry());
        await worker.StartAsync(CancellationToken.None);
        await worker.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        _cleanup.Add(async () =>
        {
            await worker.StopAsync(CancellationToken.None);
            worker.Dispose();
            await usage.StopAsync(CancellationToken.None);
            usage.Dispose();
        });
        return worker;
    }

    private OpenAiLlmProvider Llm(FakeLlmServer server)
    {
        var provider = new OpenAiLlmProvider(new OpenAiLlmOptions { BaseUrl = server.BaseUrl, Model = "fake-summarizer", RetryBaseDelaySeconds = 0.01, MaxRetries = 1 });
        _cleanup.Add(async () =>
        {
            provider.Dispose();
            await server.DisposeAsync();
        });
        return provider;
    }

    private Task SettledAsync(TestRole ws) =>
        EventuallyAsync(async () => await _db.ScalarAsync<long>("SELECT count(*) FROM memory.reflection_queue WHERE workspace = $1", ws.Name) == 0, "marks processed");

    private static async Task RememberAsync(TestRole ws, string content, string kind = "preference", string entity = "dana", string tags = "{}") =>
        await ws.ExecuteAsync("CALL remember($1, kind => $2, entity => $3, tags => $4::text[])", content, kind, entity, tags);

    private static Task<List<Dictionary<string, object?>>> SummariesAsync(TestRole ws) =>
        ws.DataSource.QueryAsync("SELECT id, content, status, superseded_by, tags, metadata::text AS metadata FROM memory.memories WHERE layer = 'category' ORDER BY created_at, id");

    [Fact]
    public async Task Extractive_WithoutAnLlm_SummarisesEachGroupOfEnoughMembers_LinkedToThem()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_extr");
        await RememberAsync(ws, "Dana prefers window seats", tags: "{travel}");
        await RememberAsync(ws, "Dana likes green tea");
        await RememberAsync(ws, "Dana hates early flights", tags: "{travel}");
        await RememberAsync(ws, "Dana lives in Porto", kind: "fact");
        await StartAsync();
        await SettledAsync(ws);

        var summary = Assert.Single(await SummariesAsync(ws));
        Assert.StartsWith("Summary of dana's preferences (3 memories, extractive):\n- ", (string)summary["content"]!, StringComparison.Ordinal);
        Assert.Contains("- Dana likes green tea", (string)summary["content"]!, StringComparison.Ordinal);
        Assert.Equal(new[] { "summary" }, (string[])summary["tags"]!);
        Assert.Contains("no LLM is configured", (string)summary["metadata"]!, StringComparison.Ordinal);
        Assert.Equal(3L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND relation = 'summarizes'", summary["id"]));
        var groups = (await ws.DataSource.QueryAsync("SELECT topic, members, mode, state, summary_id FROM memory.reflection_status ORDER BY topic"))
            .ToDictionary(r => (string)r["topic"]!);
        Assert.Equal(("ok", "extractive", 3), ((string)groups["kind:preference"]["state"]!, (string)groups["kind:preference"]["mode"]!, (int)groups["kind:preference"]["members"]!));
        Assert.Null(groups["kind:fact"]["summary_id"]);     // one member: below reflection.min_members
        Assert.Null(groups["tag:travel"]["summary_id"]);    // two members
        // Briefing shows the summary among what an agent should know.
        Assert.Equal("summary", await ws.ScalarAsync<string>("SELECT reason FROM briefing('dana', k => 5) WHERE id = $1", summary["id"]));
    }

    [Fact]
    public async Task NewMembers_ReviseThePreviousSummary_KeepingHistory_AndOnlyChangedGroupsAreRewritten()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_incr");
        foreach (var p in new[] { "Dana prefers window seats", "Dana likes green tea", "Dana hates early flights" }) await RememberAsync(ws, p);
        foreach (var f in new[] { "Dana lives in Porto", "Dana works as a nurse", "Dana has two cats" }) await RememberAsync(ws, f, kind: "fact");
        await StartAsync();
        await SettledAsync(ws);
        var before = (await SummariesAsync(ws)).ToDictionary(s => ((string)s["content"]!)[..30], s => (Guid)s["id"]!);
        Assert.Equal(2, before.Count);

        await RememberAsync(ws, "Dana loves jazz");
        await SettledAsync(ws);

        var after = await SummariesAsync(ws);
        Assert.Equal(3, after.Count);
        var facts = Assert.Single(after, s => ((string)s["content"]!).StartsWith("Summary of dana's facts", StringComparison.Ordinal));
        Assert.Equal("active", facts["status"]);                 // unchanged group: same summary, not rewritten
        var old = Assert.Single(after, s => (string)s["status"]! == "superseded");
        var current = Assert.Single(after, s => (string)s["status"]! == "active" && ((string)s["content"]!).Contains("preferences", StringComparison.Ordinal));
        Assert.Equal(current["id"], old["superseded_by"]);
        Assert.Contains("(4 memories, extractive)", (string)current["content"]!, StringComparison.Ordinal);
        Assert.Contains("Dana loves jazz", (string)current["content"]!, StringComparison.Ordinal);
        Assert.Equal(2L, await ws.ScalarAsync<long>("SELECT count(*) FROM history($1) WHERE item = 'version'", current["id"]));
        Assert.Equal(4L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND relation = 'summarizes'", current["id"]));
    }

    [Fact]
    public async Task AMarkWithoutARealChange_LeavesTheSummaryAlone()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_same");
        foreach (var p in new[] { "Kim likes chess", "Kim likes go", "Kim likes bridge" }) await RememberAsync(ws, p, entity: "kim");
        await StartAsync();
        await SettledAsync(ws);
        await _db.ExecuteAsync("INSERT INTO memory.reflection_queue (workspace, entity, topic) VALUES ($1, 'kim', 'kind:preference')", ws.Name);
        await SettledAsync(ws);
        var summary = Assert.Single(await SummariesAsync(ws));
        Assert.Equal("active", summary["status"]);
    }

    [Fact]
    public async Task ForgettingAMember_ForgetsTheSummaryRepeatingIt_AndAFreshOneIsWritten()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_forget");
        foreach (var p in new[] { "Erin likes opera", "Erin likes hiking", "Erin likes sushi", "Erin likes cats" }) await RememberAsync(ws, p, entity: "erin");
        await StartAsync();
        await SettledAsync(ws);
        var secret = await ws.ScalarAsync<Guid>("SELECT id FROM memory.memories WHERE content = 'Erin likes opera'");
        await ws.ExecuteAsync("CALL forget($1, hard => true)", secret);
        await SettledAsync(ws);

        var summaries = await SummariesAsync(ws);
        var summary = Assert.Single(summaries);                   // the old one went with the forgotten memory
        Assert.DoesNotContain("opera", (string)summary["content"]!, StringComparison.Ordinal);
        Assert.Contains("(3 memories, extractive)", (string)summary["content"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Llm_WritesTheSummary_RecordsTokens_AndSaysWhichModel()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_llm");
        foreach (var p in new[] { "Gus likes rain", "Gus likes snow", "Gus likes fog" }) await RememberAsync(ws, p, entity: "gus");
        var server = new FakeLlmServer(_ => LlmReply.Json(new JsonObject { ["summary"] = "Gus enjoys rain, snow and fog." }, 150, 12));
        await StartAsync(Llm(server));
        await SettledAsync(ws);

        var summary = Assert.Single(await SummariesAsync(ws));
        Assert.Equal("Summary of gus's preferences (3 memories, LLM):\nGus enjoys rain, snow and fog.", summary["content"]);
        Assert.Contains("\"model\": \"fake-summarizer\"", (string)summary["metadata"]!, StringComparison.Ordinal);
        var call = Assert.Single(server.Calls);
        Assert.Equal("memorysql_reflection", call.SchemaName);
        Assert.Contains("Gus likes snow", call.Prompt, StringComparison.Ordinal);
        var usage = Assert.Single(await ws.DataSource.QueryAsync("SELECT purpose, prompt_tokens, completion_tokens, ok FROM memory.llm_usage"));
        Assert.Equal(("reflection", 150, 12, true), ((string)usage["purpose"]!, (int)usage["prompt_tokens"]!, (int)usage["completion_tokens"]!, (bool)usage["ok"]!));
    }

    [Fact]
    public async Task Llm_InvalidAnswers_FailTheGroupVisibly_KeepingItsMarks_AndWritingNothing()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_bad");
        foreach (var p in new[] { "Ivy likes red", "Ivy likes blue", "Ivy likes green" }) await RememberAsync(ws, p, entity: "ivy");
        var server = new FakeLlmServer(_ => LlmReply.Chat("Ivy likes colours.", 40, 5));
        await StartAsync(Llm(server), o => o.MaxAttempts = 2);
        await EventuallyAsync(async () => await ws.ScalarAsync<string>("SELECT state FROM memory.reflection_status WHERE topic = 'kind:preference'") == "failed",
            "the group failed for good");

        var group = Assert.Single(await ws.DataSource.QueryAsync("SELECT attempts, last_error, pending_marks FROM memory.reflection_status WHERE topic = 'kind:preference'"));
        Assert.Equal(2, group["attempts"]);
        Assert.Contains("did not return valid JSON", (string)group["last_error"]!, StringComparison.Ordinal);
        Assert.True((long)group["pending_marks"]! > 0);
        Assert.Empty(await SummariesAsync(ws));
        Assert.Equal(4, server.RequestCount);                                        // two attempts, each with one repair
        Assert.Equal(2L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.llm_usage WHERE NOT ok"));  // one row per attempt
        Assert.Equal(180L, await ws.ScalarAsync<long>("SELECT sum(prompt_tokens + completion_tokens)::bigint FROM memory.llm_usage"));
    }

    [Fact]
    public async Task OverBudget_SummariesAreExtractive_AndSaySo()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_budget");
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"llm.budget_tokens_per_day\": 10}')", ws.Name);
        await _db.ExecuteAsync("INSERT INTO memory.llm_usage (workspace, purpose, model, prompt_tokens, completion_tokens, ok) VALUES ($1, 'reflect', 'm', 10, 5, true)", ws.Name);
        foreach (var p in new[] { "Jo likes tea", "Jo likes cake", "Jo likes rain" }) await RememberAsync(ws, p, entity: "jo");
        var server = new FakeLlmServer(_ => LlmReply.Json(new JsonObject { ["summary"] = "never asked" }));
        await StartAsync(Llm(server));
        await SettledAsync(ws);

        Assert.Equal(0, server.RequestCount);
        var summary = Assert.Single(await SummariesAsync(ws));
        Assert.Contains("extractive", (string)summary["content"]!, StringComparison.Ordinal);
        Assert.Contains("llm.budget_tokens_per_day", (string)summary["metadata"]!, StringComparison.Ordinal);
    }
}
