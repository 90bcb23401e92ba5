using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Testing;
using MemorySql.Workers.Check;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging.Abstractions;
using static MemorySql.Workers.Tests.Lifecycle.LifecycleData;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>
/// The check worker's LLM judge against a real PostgreSQL, as the extraction and reflection workers use the LLM:
/// every call is written to memory.llm_usage (purpose 'contradiction'), and a workspace whose token budget is
/// spent (or whose policy turns the LLM off) is judged by the heuristics, which say so in the case's detail.
/// </summary>
public sealed class CheckWorkerLlmBudgetTests(TestDatabase db) : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db = db;
    private readonly CheckWorkers _workers = new(db);

    public Task InitializeAsync() => RegisterModelAsync(_db);

    public Task DisposeAsync() => _workers.DisposeAsync().AsTask();

    private Task<CheckWorker> StartAsync(ILlmProvider llm) =>
        _workers.StartAsync(llm: llm, usage: new LlmUsageWriter(_db.Admin, NullLogger<LlmUsageWriter>.Instance));

    private Task SetPolicyAsync(TestRole ws, string settings) =>
        _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, $2::jsonb)", ws.Name, settings);

    [Fact]
    public async Task LlmJudgements_AreRecordedInLlmUsage_PerWorkspace_WithPurposeContradiction()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_usage");
        var other = await _db.CreateWorkspaceAsync("cb_usage_other");
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "updates", current = "newer", confidence = 0.9, reason = "moved" } };
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        var porto = await RememberAsync(ws, "Dana lives in Porto");
        await StartAsync(llm);
        await DrainedAsync(_db, ws.Name);

        Assert.Equal("superseded", await StatusAsync(_db, lisbon));
        var calls = await ws.DataSource.QueryAsync("SELECT purpose, model, prompt_tokens, completion_tokens, ok, error, detail ->> 'memory' AS memory FROM memory.llm_usage");
        Assert.Equal(llm.Calls, calls.Count);
        Assert.All(calls, c => Assert.Equal(("contradiction", "scripted-judge", 120, 30, true, (object?)null),
            ((string)c["purpose"]!, (string)c["model"]!, (int)c["prompt_tokens"]!, (int)c["completion_tokens"]!, (bool)c["ok"]!, c["error"])));
        Assert.Contains(calls, c => (string)c["memory"]! == porto.ToString() || (string)c["memory"]! == lisbon.ToString());
        Assert.Equal(150L * llm.Calls, await ws.ScalarAsync<long>("SELECT used_tokens FROM memory.llm_budget()"));
        Assert.Equal(150L * llm.Calls, await ws.ScalarAsync<long>("SELECT total_tokens FROM memory.llm_usage_summary WHERE purpose = 'contradiction'"));
        Assert.Equal(0L, await other.ScalarAsync<long>("SELECT count(*) FROM memory.llm_usage"));
        var detail = await ws.ScalarAsync<string>("SELECT detail::text FROM memory.contradiction_cases");
        Assert.DoesNotContain("offline_reason", detail!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailedLlmCalls_AreRecordedToo_WithTheirError()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_failed");
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "maybe", current = "newer", confidence = 0.9, reason = "?" } };
        await RememberAsync(ws, "Dana lives in Lisbon");
        await RememberAsync(ws, "Dana lives in Porto");
        await StartAsync(llm);
        await DrainedAsync(_db, ws.Name);

        var failed = await ws.DataSource.QueryAsync("SELECT ok, error, prompt_tokens FROM memory.llm_usage");
        Assert.NotEmpty(failed);
        Assert.All(failed, f => Assert.Equal((false, 120), ((bool)f["ok"]!, (int)f["prompt_tokens"]!)));
        Assert.All(failed, f => Assert.Contains("verdict \"maybe\"", (string)f["error"]!, StringComparison.Ordinal));
        Assert.Equal(failed.Count, (int)await ws.ScalarAsync<long>("SELECT failed_calls FROM memory.llm_usage_summary WHERE purpose = 'contradiction'"));
    }

    [Fact]
    public async Task SpentBudget_TheHeuristicsDecide_AndTheCaseSaysWhy_WithoutCallingTheLlm()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_spent");
        await SetPolicyAsync(ws, """{"llm.budget_tokens_per_day": 1000}""");
        // Spent today by something else (extraction, reflect): the check must not call the LLM.
        await _db.ExecuteAsync("INSERT INTO memory.llm_usage (workspace, purpose, model, prompt_tokens, completion_tokens, ok) VALUES ($1, 'extract', 'm', 900, 100, true)", ws.Name);
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "unrelated", current = "unclear", confidence = 0.9, reason = "the LLM must not be asked" } };
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        var porto = await RememberAsync(ws, "Dana lives in Porto");
        var worker = await StartAsync(llm);
        await DrainedAsync(_db, ws.Name);

        Assert.Equal(0, llm.Calls);
        Assert.Equal("superseded", await StatusAsync(_db, lisbon));   // the heuristics: a changed value of "lives in"
        Assert.Equal("active", await StatusAsync(_db, porto));
        var decided = Assert.Single(await ws.DataSource.QueryAsync("SELECT method, detail ->> 'offline_reason' AS reason FROM memory.contradiction_cases"));
        Assert.Equal("heuristic", decided["method"]);
        Assert.Contains("token budget for today is spent (1000 of 1000 tokens", (string)decided["reason"]!, StringComparison.Ordinal);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.llm_usage"));   // only the row written above
        Assert.True(worker.Health.Snapshot().Counters["llm_offline"] >= 1);
        Assert.Equal("llm:scripted-judge", worker.Health.Target);      // the worker still has its LLM, for other workspaces
    }

    [Fact]
    public async Task BudgetSpentByTheChecksThemselves_StopsTheLlmForTheRestOfTheDay()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_running_out");
        await SetPolicyAsync(ws, """{"llm.budget_tokens_per_day": 150}""");
        // The LLM says "unrelated", the heuristics "changed value": which of them decided shows in the outcome.
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "unrelated", current = "unclear", confidence = 0.9, reason = "both hold" } };
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        await RememberAsync(ws, "Dana lives in Porto");
        await StartAsync(llm);
        await DrainedAsync(_db, ws.Name);

        // The first check spent the whole budget (one call, 150 tokens); the second was judged offline.
        Assert.Equal(1, llm.Calls);
        Assert.Equal(150L, await ws.ScalarAsync<long>("SELECT sum(prompt_tokens + completion_tokens)::bigint FROM memory.llm_usage WHERE purpose = 'contradiction'"));
        Assert.True(await ws.ScalarAsync<bool>("SELECT exceeded FROM memory.llm_budget()"));
        Assert.Equal("superseded", await StatusAsync(_db, lisbon));
        Assert.Contains("llm.budget_tokens_per_day", await ws.ScalarAsync<string>("SELECT detail ->> 'offline_reason' FROM memory.contradiction_cases"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BudgetSpentInTheMiddleOfOneMemorysCheck_StopsTheLlmForItsRemainingPairs()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_mid_check");
        await SetPolicyAsync(ws, """{"llm.budget_tokens_per_day": 150}""");
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "unrelated", current = "unclear", confidence = 0.9, reason = "both hold" } };
        // Four facts of the same shape: a memory's check has several close neighbours, each a pair for the judge.
        foreach (var city in new[] { "Lisbon", "Porto", "Madrid", "Paris" })
            await RememberAsync(ws, $"Dana lives in {city}");
        await StartAsync(llm);
        await DrainedAsync(_db, ws.Name);

        // One call spends the whole budget; every later pair, of the same memory or another, is judged offline.
        Assert.Equal(1, llm.Calls);
        Assert.Equal(150L, await ws.ScalarAsync<long>("SELECT used_tokens FROM memory.llm_budget()"));
    }

    [Fact]
    public async Task LlmDisabledByPolicy_TheHeuristicsDecide_AndTheCaseSaysWhy()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_disabled");
        await SetPolicyAsync(ws, """{"llm.enabled": false}""");
        var llm = new ScriptedLlm();
        await RememberAsync(ws, "Dana lives in Lisbon");
        await RememberAsync(ws, "Dana lives in Porto");
        await StartAsync(llm);
        await DrainedAsync(_db, ws.Name);

        Assert.Equal(0, llm.Calls);
        Assert.Contains("policy llm.enabled = false", await ws.ScalarAsync<string>("SELECT detail ->> 'offline_reason' FROM memory.contradiction_cases"), StringComparison.Ordinal);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.llm_usage"));
    }

    [Fact]
    public async Task ThroughARealOpenAiCompatibleEndpoint_TheReportedTokensAreRecorded()
    {
        var ws = await _db.CreateWorkspaceAsync("cb_http");
        var server = new FakeLlmServer(_ => LlmReply.Json(new JsonObject
        {
            ["verdict"] = "updates", ["current"] = "newer", ["confidence"] = 0.95, ["reason"] = "moved",
        }, promptTokens: 210, completionTokens: 17));
        _workers.DisposeLater(server);
        var provider = LlmProviderFactory.Create(new LlmOptions
        {
            Provider = "openai",
            OpenAI = new OpenAiLlmOptions { BaseUrl = server.BaseUrl, Model = "fake-judge", RetryBaseDelaySeconds = 0.01, TimeoutSeconds = 10 },
        })!;
        _workers.DisposeLater(new DisposeProvider(provider));
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        await RememberAsync(ws, "Dana lives in Porto");
        await StartAsync(provider);
        await DrainedAsync(_db, ws.Name);

        Assert.Equal("superseded", await StatusAsync(_db, lisbon));
        Assert.Equal("llm", await ws.ScalarAsync<string>("SELECT method FROM memory.contradiction_cases"));
        var rows = await ws.DataSource.QueryAsync("SELECT model, prompt_tokens, completion_tokens FROM memory.llm_usage WHERE purpose = 'contradiction'");
        Assert.Equal(server.RequestCount, rows.Count);
        Assert.All(rows, r => Assert.Equal(("fake-judge", 210, 17), ((string)r["model"]!, (int)r["prompt_tokens"]!, (int)r["completion_tokens"]!)));
    }

    private sealed class DisposeProvider(ILlmProvider provider) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            (provider as IDisposable)?.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
