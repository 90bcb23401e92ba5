using MemorySql.Embeddings.Llm;
using MemorySql.Testing;
using MemorySql.Workers.Check;
using static MemorySql.Workers.Tests.EmbedTestSchema;
using static MemorySql.Workers.Tests.Lifecycle.LifecycleData;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>The check worker against a real PostgreSQL: merges, contradictions, the LLM path and its failures. Each test works in its own workspace.</summary>
public sealed class CheckWorkerTests(TestDatabase db) : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db = db;
    private readonly CheckWorkers _workers = new(db);

    public Task InitializeAsync() => RegisterModelAsync(_db);

    public Task DisposeAsync() => _workers.DisposeAsync().AsTask();

    private async Task SetPolicyAsync(TestRole ws, string settings) =>
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, $2::jsonb)", ws.Name, settings);

    [Fact]
    public async Task NearDuplicate_IsMergedIntoTheOlder_WhichAbsorbsItsUse()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_merge");
        var older = await RememberAsync(ws, "Dana prefers window seats", extra: ", tags => '{travel}'");
        var newer = await RememberAsync(ws, "dana prefers the window seats.", extra: ", tags => '{seats}'");
        var worker = await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);

        Assert.Equal("active", await StatusAsync(_db, older));
        Assert.Equal("superseded", await StatusAsync(_db, newer));
        var survivor = Assert.Single(await ws.DataSource.QueryAsync("SELECT access_count, tags FROM memory.memories WHERE id = $1", older));
        Assert.Equal(1, survivor["access_count"]);
        Assert.Equal(["seats", "travel"], (string[])survivor["tags"]!);
        Assert.Equal(1L, await EventsAsync(_db, ws.Name, "merge"));
        Assert.Equal(1L, worker.Health.Snapshot().Counters["merged"]);
        Assert.Equal("check-worker", await _db.ScalarAsync<string>("SELECT detail ->> 'by' FROM memory.events WHERE memory_id = $1 AND action = 'merge'", newer));
    }

    [Fact]
    public async Task NearDuplicates_OfDifferentEntities_AreNeverMerged()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_entities");
        var dana = await RememberAsync(ws, "Prefers window seats", entity: "dana");
        var bob = await RememberAsync(ws, "prefers window seats.", entity: "bob");
        var nobody = await RememberAsync(ws, "Prefers window seats!", entity: null);
        await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);
        foreach (var id in new[] { dana, bob, nobody }) Assert.Equal("active", await StatusAsync(_db, id));
        Assert.Equal(0L, await EventsAsync(_db, ws.Name, "merge"));
    }

    [Fact]
    public async Task PinnedMemories_AreNeverAbsorbed()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_pinned");
        var older = await RememberAsync(ws, "The gate code is 1234");
        var pinnedNewer = await RememberAsync(ws, "the gate code is 1234.", extra: ", pinned => true");
        var bothA = await RememberAsync(ws, "Dana's locker is 17", extra: ", pinned => true");
        var bothB = await RememberAsync(ws, "dana's locker is 17!", extra: ", pinned => true");
        await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);
        Assert.Equal("superseded", await StatusAsync(_db, older));       // the pinned newer one absorbed it
        Assert.Equal("active", await StatusAsync(_db, pinnedNewer));
        Assert.Equal("active", await StatusAsync(_db, bothA));            // two pinned: left alone
        Assert.Equal("active", await StatusAsync(_db, bothB));
    }

    [Fact]
    public async Task ArchivedDuplicate_IsRevived_NotDuplicated()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_revive");
        var old = await RememberAsync(ws, "The office door code is 2580");
        await _db.ExecuteAsync("DELETE FROM memory.check_queue WHERE memory_id = $1", old);
        await _db.ExecuteAsync("UPDATE memory.memories SET status = 'archived' WHERE id = $1", old);
        var again = await RememberAsync(ws, "the office door code is 2580.");
        await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);
        Assert.Equal("active", await StatusAsync(_db, old));
        Assert.Equal("superseded", await StatusAsync(_db, again));
    }

    [Fact]
    public async Task ChangedValue_SupersedesTheOlder_WithHeuristics()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_value");
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        var porto = await RememberAsync(ws, "Dana lives in Porto");
        var sushi = await RememberAsync(ws, "Dana likes sushi");
        var ramen = await RememberAsync(ws, "Dana likes ramen");
        var worker = await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);

        Assert.Equal("superseded", await StatusAsync(_db, lisbon));
        Assert.Equal(porto, await _db.ScalarAsync<Guid>("SELECT superseded_by FROM memory.memories WHERE id = $1", lisbon));
        Assert.Equal("active", await StatusAsync(_db, sushi));    // liking two things is no conflict
        Assert.Equal("active", await StatusAsync(_db, ramen));
        var decided = Assert.Single(await ws.DataSource.QueryAsync("SELECT verdict, method, state, resolution, reason FROM memory.contradiction_cases"));
        Assert.Equal(("updates", "heuristic", "resolved", "newer"), ((string)decided["verdict"]!, (string)decided["method"]!, (string)decided["state"]!, (string)decided["resolution"]!));
        Assert.Contains("live in", (string)decided["reason"]!, StringComparison.Ordinal);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND target_id = $2 AND relation = 'contradicts'", porto, lisbon));
        Assert.Equal(1L, worker.Health.Snapshot().Counters["superseded"]);
        Assert.Equal(["Dana lives in Porto"], (await ws.DataSource.QueryAsync("SELECT content FROM recall('where does Dana live', k => 5, entity => 'dana')"))
            .Select(r => (string)r["content"]!).Where(c => c.Contains("lives", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task NegationAboveTheDedupThreshold_IsAContradiction_NeverAMerge()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_negation");
        await SetPolicyAsync(ws, """{"dedup_threshold:builtin-v1": 0.7}""");   // "likes" / "doesn't like" score 0.76
        var likes = await RememberAsync(ws, "Dana likes sushi");
        var not = await RememberAsync(ws, "Dana doesn't like sushi");
        await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);
        Assert.Equal("superseded", await StatusAsync(_db, likes));
        Assert.Equal("active", await StatusAsync(_db, not));
        Assert.Equal(0L, await EventsAsync(_db, ws.Name, "merge"));
        Assert.Equal("contradicts", await ws.ScalarAsync<string>("SELECT verdict FROM memory.contradiction_cases"));
    }

    [Fact]
    public async Task WeakConflicts_AndAutoResolveOff_OpenCasesForAPerson()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_open");
        await SetPolicyAsync(ws, """{"contradiction_threshold:builtin-v1": 0.3}""");
        var vegetarian = await RememberAsync(ws, "Dana is vegetarian");
        var vegan = await RememberAsync(ws, "Dana is vegan");          // "is A" / "is B": 0.55, below min_confidence
        await _workers.StartAsync();
        await DrainedAsync(_db, ws.Name);
        Assert.Equal("active", await StatusAsync(_db, vegetarian));
        Assert.Equal("active", await StatusAsync(_db, vegan));
        var open = Assert.Single(await ws.DataSource.QueryAsync("SELECT newer_id, confidence FROM memory.contradictions"));
        Assert.Equal(vegan, open["newer_id"]);

        var other = await _db.CreateWorkspaceAsync("cw_review");
        await SetPolicyAsync(other, """{"contradictions.auto_resolve": false}""");
        var lisbon = await RememberAsync(other, "Dana lives in Lisbon");
        var porto = await RememberAsync(other, "Dana lives in Porto");
        await DrainedAsync(_db, other.Name);
        Assert.Equal("active", await StatusAsync(_db, lisbon));
        Assert.Equal("active", await StatusAsync(_db, porto));
        Assert.Single(await other.DataSource.QueryAsync("SELECT * FROM memory.contradictions"));
    }

    [Fact]
    public async Task Llm_JudgesWhatHeuristicsMiss_AndIsRecordedAsSuch()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_llm");
        var llm = new ScriptedLlm
        {
            Answer = (older, newer) => older.Contains("Debian", StringComparison.Ordinal)
                ? new { verdict = "updates", current = "newer", confidence = 0.9, reason = "the server was reinstalled" }
                : new { verdict = "unrelated", current = "unclear", confidence = 0.8, reason = "both hold" },
        };
        var debian = await RememberAsync(ws, "The build server runs Debian", entity: null);
        var ubuntu = await RememberAsync(ws, "The build server runs Ubuntu", entity: null);
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        var porto = await RememberAsync(ws, "Dana lives in Porto");
        var worker = await _workers.StartAsync(llm: llm);
        await DrainedAsync(_db, ws.Name);

        Assert.Equal("superseded", await StatusAsync(_db, debian));
        Assert.Equal("active", await StatusAsync(_db, ubuntu));
        // The LLM said unrelated, so the heuristics' "changed value" does not apply.
        Assert.Equal("active", await StatusAsync(_db, lisbon));
        Assert.Equal("active", await StatusAsync(_db, porto));
        var decided = Assert.Single(await ws.DataSource.QueryAsync("SELECT method, confidence, reason, detail ->> 'llm_tokens' AS tokens FROM memory.contradiction_cases"));
        Assert.Equal(("llm", 0.9f, "the server was reinstalled", "150"), ((string)decided["method"]!, (float)decided["confidence"]!, (string)decided["reason"]!, (string)decided["tokens"]!));
        Assert.All(llm.Requests, r => Assert.Equal("contradiction", r.Purpose));
        Assert.NotNull(llm.Requests[0].JsonSchema);
        var health = worker.Health.Snapshot();
        Assert.Equal("llm:scripted-judge", health.Target);
        Assert.True(health.Counters["llm_calls"] >= 2);
        Assert.True(health.Counters["llm_tokens"] >= 300);
    }

    [Fact]
    public async Task Llm_UnclearWhichIsCurrent_OpensACase()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_llm_unclear");
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "contradicts", current = "unclear", confidence = 0.95, reason = "two reports disagree" } };
        var a = await RememberAsync(ws, "Dana lives in Lisbon");
        var b = await RememberAsync(ws, "Dana lives in Porto");
        await _workers.StartAsync(llm: llm);
        await DrainedAsync(_db, ws.Name);
        var open = Assert.Single(await ws.DataSource.QueryAsync("SELECT newer_id, older_id, method, reason FROM memory.contradictions"));
        Assert.Equal((b, a, "llm", "two reports disagree"), ((Guid)open["newer_id"]!, (Guid)open["older_id"]!, (string)open["method"]!, (string)open["reason"]!));
    }

    [Fact]
    public async Task Llm_TransientFailures_KeepTheCheckQueued_ThenTheHeuristicsDecide()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_llm_down");
        var llm = new ScriptedLlm { Answer = (_, _) => throw new LlmException("chat endpoint returned 503", isTransient: true) };
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        var porto = await RememberAsync(ws, "Dana lives in Porto");
        var worker = await _workers.StartAsync(CheckWorkers.Options(o => o.LlmMaxAttempts = 3), llm);
        // While the LLM fails the rows wait, with the error where a view shows it, and nothing is decided.
        await EventuallyAsync(async () => await ws.ScalarAsync<long>("SELECT count(*) FROM memory.check_status WHERE llm_attempts >= 1") >= 1, "an LLM retry recorded");
        Assert.Contains("503", await ws.ScalarAsync<string>("SELECT last_error FROM memory.check_status WHERE llm_attempts >= 1 LIMIT 1"));
        await DrainedAsync(_db, ws.Name);
        Assert.Equal("superseded", await StatusAsync(_db, lisbon));
        Assert.Equal("active", await StatusAsync(_db, porto));
        var decided = Assert.Single(await ws.DataSource.QueryAsync("SELECT method, detail ->> 'llm_error' AS error FROM memory.contradiction_cases"));
        Assert.Equal("heuristic", decided["method"]);
        Assert.Contains("503", (string)decided["error"]!);
        var health = worker.Health.Snapshot();
        Assert.True(health.Counters["llm_retries"] >= 2);
        Assert.True(health.Counters["llm_fallbacks"] >= 1);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.check_queue"));
    }

    [Fact]
    public async Task Llm_UnusableAnswer_FallsBackToHeuristicsAtOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_llm_bad");
        var llm = new ScriptedLlm { Answer = (_, _) => new { verdict = "maybe", current = "newer", confidence = 0.9, reason = "?" } };
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon");
        await RememberAsync(ws, "Dana lives in Porto");
        await _workers.StartAsync(llm: llm);
        await DrainedAsync(_db, ws.Name);
        Assert.Equal("superseded", await StatusAsync(_db, lisbon));
        Assert.Contains("verdict \"maybe\"", await ws.ScalarAsync<string>("SELECT detail ->> 'llm_error' FROM memory.contradiction_cases"));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.check_queue WHERE llm_attempts > 0"));
    }

    [Fact]
    public async Task DatabaseErrors_AreRecordedPerRow_AndTheRowFailsAfterTheLastAttempt()
    {
        var ws = await _db.CreateWorkspaceAsync("cw_fail");
        await _db.ExecuteAsync($"""
            CREATE FUNCTION pg_temp_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'test refuses duplicate_of edges' USING ERRCODE = 'P0001'; END $$;
            """.Replace("pg_temp_refuse", "public.cw_fail_refuse", StringComparison.Ordinal));
        await _db.ExecuteAsync($"CREATE TRIGGER cw_fail_refuse BEFORE INSERT ON memory.associations FOR EACH ROW WHEN (NEW.workspace = '{ws.Name}' AND NEW.relation = 'duplicate_of') EXECUTE FUNCTION public.cw_fail_refuse()");
        try
        {
            var older = await RememberAsync(ws, "The wifi name is Lighthouse");
            var newer = await RememberAsync(ws, "the wifi name is lighthouse.");
            var worker = await _workers.StartAsync(CheckWorkers.Options(o => o.MaxAttempts = 2));
            // Both memories' checks try the merge (each finds the other), so both fail.
            await EventuallyAsync(async () => await ws.ScalarAsync<long>("SELECT count(*) FROM memory.check_status WHERE state = 'failed'") == 2, "both checks failed");
            var failed = await ws.DataSource.QueryAsync("SELECT memory_id, attempts, last_error FROM memory.check_status WHERE state = 'failed'");
            Assert.All(failed, f => Assert.Equal(2, f["attempts"]));
            Assert.All(failed, f => Assert.Contains("test refuses duplicate_of edges", (string)f["last_error"]!, StringComparison.Ordinal));
            Assert.Equal("active", await StatusAsync(_db, older));   // nothing half-applied
            Assert.Equal("active", await StatusAsync(_db, newer));
            Assert.True(worker.Health.Snapshot().Failed >= 1);
            Assert.Equal(2L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'check_queue' AND key = 'failed'"));
        }
        finally
        {
            await _db.ExecuteAsync("DROP TRIGGER cw_fail_refuse ON memory.associations; DROP FUNCTION public.cw_fail_refuse()");
            await _db.ExecuteAsync("DELETE FROM memory.check_queue WHERE workspace = $1", ws.Name);
        }
    }
}
