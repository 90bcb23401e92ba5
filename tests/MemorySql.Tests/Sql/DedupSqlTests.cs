using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

/// <summary>The SQL half of near-duplicate merging: the check queue, neighbours, thresholds and memory.merge_duplicate.</summary>
public sealed class DedupSqlTests : IClassFixture<TestDatabase>, IAsyncLifetime
{
    private readonly TestDatabase _db;

    public DedupSqlTests(TestDatabase db) => _db = db;

    public Task InitializeAsync() => _db.ExecuteAsync("SELECT memory.register_model('dd-v3', 3, true)");

    public Task DisposeAsync() => Task.CompletedTask;

    private static Task<Guid> RememberAsync(TestRole ws, string content, string vector, string? entity = "dana", string extra = "") =>
        ws.ScalarAsync<Guid>($"CALL remember($1, entity => $2{extra}, _embedding => '{vector}'::vector, _model => 'dd-v3')", content, entity);

    [Fact]
    public async Task Embedding_OfTheDefaultModel_QueuesACheck_AndNotifies()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_queue");
        await using var listen = new Npgsql.NpgsqlConnection(_db.AdminConnectionString);
        await listen.OpenAsync();
        await listen.ExecAsync("LISTEN memory_check");
        var id = await RememberAsync(ws, "Dana prefers tea", "[1,0,0]");
        var row = Assert.Single(await ws.DataSource.QueryAsync("SELECT memory_id, model, state, attempts FROM memory.check_status WHERE memory_id = $1", id));
        Assert.Equal("dd-v3", row["model"]);
        Assert.Equal("queued", row["state"]);
        Assert.True(await listen.WaitAsync(TimeSpan.FromSeconds(10)), "NOTIFY memory_check");

        // Another model's vector does not queue a second check; an exact duplicate is merged by remember, not queued again.
        await _db.ExecuteAsync("SELECT memory.register_model('dd-other', 2)");
        await _db.ExecuteAsync("INSERT INTO memory.embeddings (memory_id, model, workspace, embedding) VALUES ($1, 'dd-other', $2, '[1,0]')", id, ws.Name);
        Assert.Equal(id, await RememberAsync(ws, "Dana prefers tea", "[1,0,0]"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.check_queue"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'check_queue' AND key = 'queued'"));
    }

    [Fact]
    public async Task CheckCandidates_AreTheNearestOfTheSameEntityAndLayer()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_cand");
        var id = await RememberAsync(ws, "Dana likes green tea", "[1,0,0]");
        var near = await RememberAsync(ws, "Dana likes green tea a lot", "[0.99,0.1,0]");
        var far = await RememberAsync(ws, "Dana owns a bike", "[0,1,0]");
        await RememberAsync(ws, "Bob likes green tea", "[1,0,0]", entity: "bob");
        await RememberAsync(ws, "Green tea is popular", "[1,0,0]", entity: null);
        await ws.ScalarAsync<Guid>("CALL remember('Dana summary: likes tea', entity => 'dana', layer => 'category', _embedding => '[1,0,0]'::vector, _model => 'dd-v3')");
        var rows = await ws.DataSource.QueryAsync("SELECT candidate_id, similarity FROM memory.check_candidates($1, 5)", id);
        Assert.Equal([near, far], rows.Select(r => (Guid)r["candidate_id"]!).ToArray());
        Assert.True((float)rows[0]["similarity"]! > 0.99f);
    }

    [Fact]
    public async Task CheckThresholds_AModelKeyBeatsThePolicyColumns()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_thr");
        var defaults = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.check_thresholds($1, 'dd-v3')", ws.Name));
        Assert.Equal(0.95f, (float)defaults["dedup"]!);
        Assert.Equal(0.8f, (float)defaults["contradiction"]!);
        var builtin = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.check_thresholds($1, 'builtin-v1')", ws.Name));
        Assert.Equal(0.5f, (float)builtin["contradiction"]!);   // shipped for the lexical builtin model
        var builtinV2 = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.check_thresholds($1, 'builtin-v2')", ws.Name));
        Assert.Equal(0.5f, (float)builtinV2["contradiction"]!); // and for the default builtin model (migration 0005)
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, dedup_threshold, settings) VALUES ($1, 0.9, '{\"contradiction_threshold:dd-v3\": 0.6}')", ws.Name);
        var own = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.check_thresholds($1, 'dd-v3')", ws.Name));
        Assert.Equal(0.9f, (float)own["dedup"]!);
        Assert.Equal(0.6f, (float)own["contradiction"]!);
    }

    [Fact]
    public async Task CheckThresholds_TheDefaultBuiltinModel_HasTheLexicalContradictionThreshold()
    {
        // The default model must have its own threshold: with the general 0.80, a lexical model never brings
        // "prefers window seats" / "prefers aisle seats" (0.79 with builtin-v2) to the contradiction check.
        var ws = await _db.CreateWorkspaceAsync("dd_thr_default");
        var model = MemorySql.Embeddings.BuiltinEmbeddingProvider.DefaultModel;
        var builtin = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.check_thresholds($1, $2)", ws.Name, model));
        Assert.Equal(0.5f, (float)builtin["contradiction"]!);
        Assert.Equal(0.95f, (float)builtin["dedup"]!);
    }

    [Fact]
    public async Task MergeDuplicate_SurvivorAbsorbsStats_DuplicateIsSupersededAndLinked_BothAudited()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_merge");
        var older = await RememberAsync(ws, "Dana prefers window seats", "[1,0,0]", extra: ", tags => '{travel}', importance => 0.4, metadata => '{\"source\": \"chat\", \"a\": 1}'");
        var newer = await RememberAsync(ws, "Dana prefers a window seat", "[0.99,0.05,0]", extra: ", tags => '{seats}', importance => 0.7, metadata => '{\"source\": \"email\"}'");
        await _db.ExecuteAsync("UPDATE memory.memories SET access_count = 3 WHERE id = $1", older);
        await _db.ExecuteAsync("UPDATE memory.memories SET access_count = 2, last_accessed_at = now() WHERE id = $1", newer);

        Assert.Equal("merged", await ws.ScalarAsync<string>("SELECT memory.merge_duplicate($1, $2, 0.97)", newer, older));
        var s = Assert.Single(await ws.DataSource.QueryAsync("SELECT status, access_count, importance, tags, metadata::text AS metadata FROM memory.memories WHERE id = $1", older));
        Assert.Equal("active", s["status"]);
        Assert.Equal(6, s["access_count"]);                     // 3 + 2 + 1 for the repetition
        Assert.Equal(0.7f, (float)s["importance"]!);
        Assert.Equal(["seats", "travel"], (string[])s["tags"]!);
        Assert.Equal("{\"a\": 1, \"source\": \"email\"}", s["metadata"]);  // the newer memory's keys win
        var d = Assert.Single(await ws.DataSource.QueryAsync("SELECT status, superseded_by, valid_to = valid_from AS never_alone FROM memory.memories WHERE id = $1", newer));
        Assert.Equal("superseded", d["status"]);
        Assert.Equal(older, d["superseded_by"]);
        Assert.Equal(true, d["never_alone"]);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND target_id = $2 AND relation = 'duplicate_of'", newer, older));
        var actions = await ws.DataSource.QueryAsync("SELECT action, memory_id FROM memory.events WHERE action IN ('merge', 'absorb') ORDER BY id");
        Assert.Equal([("merge", newer), ("absorb", older)], actions.Select(a => ((string)a["action"]!, (Guid)a["memory_id"]!)).ToArray());
        Assert.Contains(await ws.DataSource.QueryAsync("SELECT memory_id FROM history($1) WHERE item = 'version'", older), r => (Guid)r["memory_id"]! == newer);
        // Idempotent: the duplicate is gone already.
        Assert.Equal("skipped: the duplicate is superseded", await ws.ScalarAsync<string>("SELECT memory.merge_duplicate($1, $2, 0.97)", newer, older));
        Assert.Equal(6, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", older));
    }

    [Fact]
    public async Task MergeDuplicate_HandsTheDuplicatesRecallHitsNotFoldedYet_ToTheSurvivor()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_pending_hits");
        var older = await RememberAsync(ws, "Kim drinks oat milk", "[1,0,0]");
        var newer = await RememberAsync(ws, "Kim drinks oat milk daily", "[0.99,0.05,0]");
        Assert.Equal(2, (await ws.DataSource.QueryAsync("SELECT id FROM recall('oat milk', ranking => '{lexical}')")).Count);

        Assert.Equal("merged", await ws.ScalarAsync<string>("SELECT memory.merge_duplicate($1, $2, 0.97)", newer, older));
        Assert.Equal(2, await ws.ScalarAsync<int>("SELECT memory.fold_access()"));
        Assert.Equal(3, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", older));  // 2 hits + 1 for the repetition
        Assert.Equal(0, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", newer));
    }

    [Fact]
    public async Task MergeDuplicate_IntoAnArchivedMemory_RevivesIt()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_revive");
        var old = await RememberAsync(ws, "The office door code is 2580", "[1,0,0]");
        await _db.ExecuteAsync("UPDATE memory.memories SET status = 'archived' WHERE id = $1", old);
        var again = await RememberAsync(ws, "Office door code is 2580", "[1,0,0]");
        Assert.Equal("merged (survivor revived)", await ws.ScalarAsync<string>("SELECT memory.merge_duplicate($1, $2)", again, old));
        Assert.Equal("active", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", old));
        Assert.Contains("\"revived\": true", await ws.ScalarAsync<string>("SELECT detail::text FROM memory.events WHERE memory_id = $1 AND action = 'absorb'", old));
    }

    [Fact]
    public async Task MergeDuplicate_NeverAcrossEntities_NeverAPinnedDuplicate()
    {
        var ws = await _db.CreateWorkspaceAsync("dd_rules");
        var dana = await RememberAsync(ws, "Likes jazz", "[1,0,0]", entity: "dana");
        var bob = await RememberAsync(ws, "Likes jazz", "[1,0,0]", entity: "bob");
        var error = await ws.DataSource.FailsAsync("SELECT memory.merge_duplicate($1, $2)", bob, dana);
        Assert.Equal("22023", error.SqlState);
        Assert.Contains("different entities", error.MessageText, StringComparison.Ordinal);

        var pinned = await RememberAsync(ws, "Dana likes jazz a lot", "[1,0,0]", extra: ", pinned => true");
        Assert.StartsWith("skipped: the duplicate is pinned", await ws.ScalarAsync<string>("SELECT memory.merge_duplicate($1, $2)", pinned, dana));
        Assert.Equal("active", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", pinned));
    }

    [Theory]
    [InlineData("SELECT memory.merge_duplicate(NULL, gen_random_uuid())", "22023")]
    [InlineData("SELECT memory.merge_duplicate(gen_random_uuid(), gen_random_uuid())", "22023")]
    [InlineData("SELECT memory.check_candidates(gen_random_uuid())", "22023")]
    public async Task BadArguments_HaveClearSqlStates(string sql, string sqlState)
    {
        var ws = await _db.CreateWorkspaceAsync("dd_bad" + Math.Abs(sql.GetHashCode(StringComparison.Ordinal)) % 1000);
        Assert.Equal(sqlState, (await ws.DataSource.FailsAsync(sql)).SqlState);
    }

    [Fact]
    public async Task AnotherWorkspace_CannotMergeOrSeeOurQueue()
    {
        var mine = await _db.CreateWorkspaceAsync("dd_mine");
        var theirs = await _db.CreateWorkspaceAsync("dd_theirs");
        var a = await RememberAsync(mine, "Private fact one", "[1,0,0]");
        var b = await RememberAsync(mine, "Private fact one!", "[1,0,0]");
        Assert.Equal("22023", (await theirs.DataSource.FailsAsync("SELECT memory.merge_duplicate($1, $2)", b, a)).SqlState);
        Assert.Equal(0L, await theirs.ScalarAsync<long>("SELECT count(*) FROM memory.check_status"));
        Assert.Equal("42501", (await theirs.DataSource.FailsAsync("DELETE FROM memory.check_queue")).SqlState);
    }
}
