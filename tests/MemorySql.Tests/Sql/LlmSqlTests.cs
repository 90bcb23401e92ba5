using System.Text.Json;
using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

/// <summary>The SQL side of the LLM features: budgets and usage, reflect's LLM and offline paths, reflection marks, forgetting summaries.</summary>
public sealed class LlmSqlTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public LlmSqlTests(TestDatabase db) => _db = db;

    private Task AddUsageAsync(string workspace, int prompt, int completion, bool ok = true, string purpose = "reflect", string at = "now()") =>
        _db.ExecuteAsync($"INSERT INTO memory.llm_usage (workspace, at, purpose, model, prompt_tokens, completion_tokens, ok) VALUES ($1, {at}, $2, 'm1', $3, $4, $5)",
            workspace, purpose, prompt, completion, ok);

    [Fact]
    public async Task LlmBudget_WithoutABudget_IsNeverExceeded_AndCountsTodaysTokens()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_nobudget");
        await AddUsageAsync(ws.Name, 100, 20);
        await AddUsageAsync(ws.Name, 1000, 1000, at: "now() - interval '2 days'");
        var row = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.llm_budget()"));
        Assert.Equal(ws.Name, row["workspace"]!.ToString());
        Assert.Equal(true, row["enabled"]);
        Assert.Null(row["budget_tokens"]);
        Assert.Equal(120L, row["used_tokens"]);
        Assert.Equal(false, row["exceeded"]);
        Assert.Null(row["offline_reason"]);
    }

    [Fact]
    public async Task LlmBudget_OnceSpent_IsExceeded_WithAReasonNamingThePolicy()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_budget");
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"llm.budget_tokens_per_day\": 500}')", ws.Name);
        await AddUsageAsync(ws.Name, 300, 100);
        var before = Assert.Single(await ws.DataSource.QueryAsync("SELECT remaining_tokens, exceeded FROM memory.llm_budget()"));
        Assert.Equal(100L, before["remaining_tokens"]);
        Assert.Equal(false, before["exceeded"]);

        await AddUsageAsync(ws.Name, 90, 10, ok: false);
        var after = Assert.Single(await ws.DataSource.QueryAsync("SELECT remaining_tokens, exceeded, offline_reason FROM memory.llm_budget()"));
        Assert.Equal(0L, after["remaining_tokens"]);
        Assert.Equal(true, after["exceeded"]);
        Assert.Contains("llm.budget_tokens_per_day", (string)after["offline_reason"]!, StringComparison.Ordinal);
        Assert.Contains("500 of 500", (string)after["offline_reason"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LlmBudget_DisabledByPolicy_SaysSo()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_off");
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"llm.enabled\": false}')", ws.Name);
        var row = Assert.Single(await ws.DataSource.QueryAsync("SELECT enabled, offline_reason FROM memory.llm_budget()"));
        Assert.Equal(false, row["enabled"]);
        Assert.Contains("llm.enabled = false", (string)row["offline_reason"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsageSummary_SumsPerDayPurposeAndModel_AndWorkspacesSeeOnlyTheirOwn()
    {
        var a = await _db.CreateWorkspaceAsync("llm_sum_a");
        var b = await _db.CreateWorkspaceAsync("llm_sum_b");
        await AddUsageAsync(a.Name, 10, 5, purpose: "extract");
        await AddUsageAsync(a.Name, 20, 5, ok: false, purpose: "extract");
        await AddUsageAsync(b.Name, 999, 1, purpose: "extract");
        var row = Assert.Single(await a.DataSource.QueryAsync("SELECT workspace, purpose, calls, failed_calls, prompt_tokens, completion_tokens, total_tokens FROM memory.llm_usage_summary"));
        Assert.Equal(a.Name, row["workspace"]!.ToString());
        Assert.Equal(2L, row["calls"]);
        Assert.Equal(1L, row["failed_calls"]);
        Assert.Equal(30L, row["prompt_tokens"]);
        Assert.Equal(40L, row["total_tokens"]);
        Assert.Equal(1L, await a.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'llm' AND key = 'failed_calls_today'"));
        Assert.Equal(40L, await a.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'llm' AND key = 'tokens_today'"));
        // Workspaces cannot write usage (MemorySql records it as the admin, outside their transactions).
        Assert.Equal("42501", (await a.DataSource.FailsAsync("INSERT INTO memory.llm_usage (purpose, model, ok) VALUES ('x', 'y', true)")).SqlState);
        Assert.Equal("42501", (await a.DataSource.FailsAsync("DELETE FROM memory.llm_usage")).SqlState);
    }

    [Fact]
    public async Task Reflect_WithSynthesisAndLlm_IsRecordedAsLlm_WithModelAndTokens()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_reflect");
        var id = await ws.ScalarAsync<Guid>("CALL remember('Dana prefers window seats', entity => 'dana')");
        var json = await ws.ScalarAsync<string>("""
            SELECT reflect('Dana seats', _synthesis => 'Dana likes window seats.', _sources => ARRAY[$1]::uuid[],
                           _llm => jsonb_build_object('model', 'gpt-x', 'prompt_tokens', 120, 'completion_tokens', 30,
                                                      'scores', jsonb_build_object($1::text, 0.75), 'signals', '["vector"]'::jsonb))::text
            """, id);
        var root = JsonDocument.Parse(json!).RootElement;
        Assert.Equal("llm", root.GetProperty("mode").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("offline_reason").ValueKind);
        Assert.Contains("gpt-x", root.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Equal(120, root.GetProperty("llm").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(0.75, root.GetProperty("sources")[0].GetProperty("score").GetDouble(), 3);
        Assert.Equal("vector", root.GetProperty("signals")[0].GetString());
        var reflection = root.GetProperty("reflection_id").GetGuid();
        var metadata = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT metadata::text FROM memory.memories WHERE id = $1", reflection))!).RootElement;
        Assert.Equal("gpt-x", metadata.GetProperty("llm").GetProperty("model").GetString());
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND target_id = $2 AND relation = 'summarizes'", reflection, id));
    }

    [Fact]
    public async Task Reflect_WithAnOfflineReason_IsExtractiveOverTheGivenSources_AndSaysWhy()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_offline");
        var first = await ws.ScalarAsync<Guid>("CALL remember('Dana flies out of Lisbon', entity => 'dana')");
        var second = await ws.ScalarAsync<Guid>("CALL remember('Dana prefers window seats', entity => 'dana')");
        var json = await ws.ScalarAsync<string>(
            "SELECT reflect('Dana', _sources => ARRAY[$1, $2]::uuid[], _offline_reason => 'the token budget is spent')::text", second, first);
        var root = JsonDocument.Parse(json!).RootElement;
        Assert.Equal("extractive", root.GetProperty("mode").GetString());
        Assert.Equal("the token budget is spent", root.GetProperty("offline_reason").GetString());
        Assert.Contains("The LLM was not used: the token budget is spent", root.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Equal("- Dana prefers window seats\n- Dana flies out of Lisbon", root.GetProperty("synthesis").GetString());
        var metadata = await ws.ScalarAsync<string>("SELECT metadata ->> 'offline_reason' FROM memory.memories WHERE id = $1", root.GetProperty("reflection_id").GetGuid());
        Assert.Equal("the token budget is spent", metadata);
    }

    [Fact]
    public async Task Reflect_CalledDirectly_SaysNoLlmSynthesisWasPassed()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_direct");
        await ws.ExecuteAsync("CALL remember('Kim works from Berlin')");
        var root = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT reflect('Kim', record => false)::text"))!).RootElement;
        Assert.Equal("extractive", root.GetProperty("mode").GetString());
        Assert.Contains("without the MemorySql proxy", root.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReflectContext_ReturnsBudgetAndSources_OrTheErrorReflectWouldRaise()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_context");
        var id = await ws.ScalarAsync<Guid>("CALL remember('The deploy runs on Tuesdays', kind => 'skill')");
        await ws.ScalarAsync<Guid>("SELECT x.memory_id FROM memory.store('Summary of deploys', layer => 'category', kind => 'summary') x");
        var root = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT reflect_context('deploy Tuesdays', k => 5)::text"))!).RootElement;
        Assert.Equal(ws.Name, root.GetProperty("workspace").GetString());
        Assert.False(root.GetProperty("budget").GetProperty("exceeded").GetBoolean());
        var source = Assert.Single(root.GetProperty("sources").EnumerateArray()); // item layer only
        Assert.Equal(id, source.GetProperty("id").GetGuid());
        Assert.Equal("skill", source.GetProperty("kind").GetString());

        var error = JsonDocument.Parse((await ws.ScalarAsync<string>("SELECT reflect_context('x', k => 0)::text"))!).RootElement.GetProperty("error");
        Assert.Equal("22023", error.GetProperty("sqlstate").GetString());
        // Nothing was raised: the transaction is usable.
        Assert.Equal(1, await ws.ScalarAsync<int>("SELECT 1"));
    }

    [Fact]
    public async Task ItemChanges_MarkTheirReflectionGroups_AccessStatisticsDoNot()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_marks");
        var id = await ws.ScalarAsync<Guid>("CALL remember('Dana likes tea', kind => 'preference', tags => '{drinks,food}', entity => 'dana')");
        var marks = await _db.Admin.QueryAsync("SELECT entity, topic FROM memory.reflection_queue WHERE workspace = $1 ORDER BY topic", ws.Name);
        Assert.Equal(new[] { "kind:preference", "tag:drinks", "tag:food" }, marks.Select(m => (string)m["topic"]!).ToArray());
        Assert.All(marks, m => Assert.Equal("dana", m["entity"]));

        await _db.ExecuteAsync("DELETE FROM memory.reflection_queue WHERE workspace = $1", ws.Name);
        await ws.ExecuteAsync("SELECT count(*) FROM recall('tea', k => 3)");          // access statistics only
        await ws.ExecuteAsync("SELECT x.memory_id FROM memory.store('A summary', layer => 'category', kind => 'summary', tags => '{drinks}') x");
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.reflection_queue WHERE workspace = $1", ws.Name));

        await ws.ExecuteAsync("CALL forget($1)", id);
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.reflection_queue WHERE workspace = $1", ws.Name));
        Assert.Equal("42501", (await ws.DataSource.FailsAsync("INSERT INTO memory.reflection_queue (workspace, topic) VALUES (current_user, 'kind:x')")).SqlState);
    }

    [Fact]
    public async Task Forget_TakesTheSummariesThatRepeatTheMemory_AllVersions()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_forget");
        var secret = await ws.ScalarAsync<Guid>("CALL remember('Erin''s door code is 4321', entity => 'erin')");
        var other = await ws.ScalarAsync<Guid>("CALL remember('Erin likes jazz', entity => 'erin')");
        var unrelated = await ws.ScalarAsync<Guid>("CALL remember('The office opens at 9')");
        var summary = await ws.ScalarAsync<Guid>("SELECT x.memory_id FROM memory.store('Erin: door code 4321, likes jazz', layer => 'category', kind => 'summary', entity => 'erin') x");
        await ws.ExecuteAsync("CALL associate($1, $2, 'summarizes')", summary, secret);
        await ws.ExecuteAsync("CALL associate($1, $2, 'summarizes')", summary, other);
        var revised = await ws.ScalarAsync<Guid>("CALL revise($1, 'Erin: door code 4321, likes jazz and blues')", summary);
        await ws.ExecuteAsync("CALL associate($1, $2, 'summarizes')", revised, secret);
        var unrelatedSummary = await ws.ScalarAsync<Guid>("SELECT x.memory_id FROM memory.store('The office hours', layer => 'category', kind => 'summary') x");
        await ws.ExecuteAsync("CALL associate($1, $2, 'summarizes')", unrelatedSummary, unrelated);

        await ws.ExecuteAsync("CALL forget($1, hard => true)", secret);

        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE content LIKE '%4321%'"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE id = $1", other));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE id = $1", unrelatedSummary));
    }

    [Fact]
    public async Task ForgetSubject_LeavesNoReflectionBookkeepingNamingTheEntity()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_subject");
        await ws.ExecuteAsync("CALL remember('Frida plays chess', entity => 'frida-9', tags => '{games}')");
        await _db.ExecuteAsync("INSERT INTO memory.reflection_groups (workspace, entity, topic) VALUES ($1, 'frida-9', 'tag:games')", ws.Name);
        await ws.ExecuteAsync("CALL forget_subject('frida-9')");
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.reflection_queue WHERE entity = 'frida-9'"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.reflection_groups WHERE entity = 'frida-9'"));
    }

    [Fact]
    public async Task ReflectionMembers_AreTheActiveItemsOfTheGroup_MostImportantFirst()
    {
        var ws = await _db.CreateWorkspaceAsync("llm_members");
        await ws.ExecuteAsync("CALL remember('Gus likes rain', kind => 'preference', entity => 'gus', importance => 0.2)");
        await ws.ExecuteAsync("CALL remember('Gus likes snow', kind => 'preference', entity => 'gus', importance => 0.9)");
        await ws.ExecuteAsync("CALL remember('Gus is tall', kind => 'fact', entity => 'gus')");
        await ws.ExecuteAsync("CALL remember('Someone likes fog', kind => 'preference')");
        var rows = await _db.Admin.QueryAsync("SELECT content FROM memory.reflection_members($1, 'gus', 'kind:preference', 10)", ws.Name);
        Assert.Equal(new[] { "Gus likes snow", "Gus likes rain" }, rows.Select(r => (string)r["content"]!).ToArray());
        var none = await _db.Admin.QueryAsync("SELECT content FROM memory.reflection_members($1, '', 'kind:preference', 10)", ws.Name);
        Assert.Equal(new[] { "Someone likes fog" }, none.Select(r => (string)r["content"]!).ToArray());
    }
}
