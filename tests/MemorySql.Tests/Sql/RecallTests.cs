using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class RecallTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public RecallTests(TestDatabase db) => _db = db;

    private static string[] Signals(Dictionary<string, object?> row) => (string[])row["signals"]!;

    [Fact]
    public async Task Recall_WithoutQueryVector_RanksLexically_AndSignalsSaySo()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_lex");
        await ws.ExecuteAsync("CALL remember('Dana prefers window seats on long flights')");
        await ws.ExecuteAsync("CALL remember('The quarterly report is due on Friday')");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('which seats does Dana prefer?', k => 5)");
        var top = Assert.Single(rows);
        Assert.Equal("Dana prefers window seats on long flights", top["content"]);
        Assert.Contains("lexical", Signals(top));
        Assert.DoesNotContain("vector", Signals(top));
        Assert.Contains(Signals(top), s => s.StartsWith("fallback:", StringComparison.Ordinal));
        Assert.Null(top["similarity"]);
        Assert.True((float)top["bm25"]! > 0);
    }

    [Fact]
    public async Task Recall_Score_IsTheDocumentedWeightedSumOfItsComponents()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_formula");
        await ws.ExecuteAsync("CALL remember('apples are red', importance => 0.9)");
        await ws.ExecuteAsync("CALL remember('apples and pears and apples', importance => 0.2)");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('apples', k => 5)");
        Assert.Equal(2, rows.Count);
        foreach (var r in rows)
        {
            // Lexical only: weights lexical 0.25, importance 0.1, recency 0.05, renormalised over the signals used.
            var expected = (0.25 * (float)r["lexical"]! + 0.1 * (float)r["importance"]! + 0.05 * (float)r["recency"]!) / 0.4;
            Assert.Equal(expected, (float)r["score"]!, 4);
            Assert.InRange((float)r["recency"]!, 0.99f, 1f);
        }
        Assert.Equal(1f, rows.Max(r => (float)r["lexical"]!));
        Assert.True((float)rows[0]["score"]! >= (float)rows[1]["score"]!);
    }

    [Fact]
    public async Task Recall_Filters_TypesKindsTagsEntitySessionLayers_ReturnOnlyMatches()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_filters");
        await using var conn = await ws.OpenAsync();
        var session = await conn.ScalarAsync<Guid>("SELECT session_start()");
        await conn.ExecAsync("RESET memory.session");
        await conn.ExecAsync("CALL remember('note alpha one', type => 'episodic', kind => 'event', tags => '{a,b}', entity => 'ann')");
        await conn.ExecAsync("CALL remember('note alpha two', type => 'semantic', kind => 'fact', tags => '{a}', entity => 'bob', session => $1)", session);
        await conn.ExecAsync("CALL remember('note alpha three', type => 'procedural', kind => 'skill', tags => '{c}', layer => 'category')");

        async Task<string[]> Contents(string filter) =>
            (await conn.QueryAsync($"SELECT content FROM recall('note alpha', k => 10{filter}) ORDER BY content"))
            .Select(r => (string)r["content"]!).ToArray();

        Assert.Equal(3, (await Contents("")).Length);
        Assert.Equal(new[] { "note alpha one" }, await Contents(", types => '{episodic}'"));
        Assert.Equal(new[] { "note alpha three", "note alpha two" }, await Contents(", kinds => '{fact,skill}'"));
        Assert.Equal(new[] { "note alpha one" }, await Contents(", tags => '{a,b}'"));
        Assert.Equal(new[] { "note alpha one", "note alpha two" }, await Contents(", tags => '{a}'"));
        Assert.Equal(new[] { "note alpha one", "note alpha three" }, await Contents(", tags_any => '{b,c}'"));
        Assert.Equal(new[] { "note alpha two" }, await Contents(", entity => 'bob'"));
        Assert.Equal(new[] { "note alpha two" }, await Contents($", session => '{session}'"));
        Assert.Equal(new[] { "note alpha three" }, await Contents(", layers => '{category}'"));
        await conn.ExecAsync("SET memory.entity = 'ann'");
        Assert.Equal(new[] { "note alpha one" }, await Contents(""));
        Assert.Equal(3, (await Contents(", entity => '*'")).Length);
    }

    [Fact]
    public async Task Recall_ManyCallsOnOneConnection_WithAndWithoutFilters_ReturnMatches_AndLeavePlanCacheModeAsItWas()
    {
        // recall plans its statements once per connection (generic plans) and asks for custom plans when a call
        // brings selective filters: alternating both on one connection must not mix their results up.
        var ws = await _db.CreateWorkspaceAsync("rc_plans");
        await using var conn = await ws.OpenAsync();
        var session = await conn.ScalarAsync<Guid>("SELECT session_start()");
        await conn.ExecAsync("RESET memory.session");
        await conn.ExecAsync("CALL remember('plan note one', entity => 'ann')");
        await conn.ExecAsync("CALL remember('plan note two', entity => 'bob', session => $1)", session);
        await conn.ExecAsync("CALL remember('plan note three', entity => 'ann', session => $1)", session);
        await conn.ExecAsync("SET plan_cache_mode = force_custom_plan");

        async Task<string[]> Contents(string filter) =>
            (await conn.QueryAsync($"SELECT content FROM recall('plan note', k => 10{filter}) ORDER BY content"))
            .Select(r => (string)r["content"]!).ToArray();

        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(new[] { "plan note one", "plan note three", "plan note two" }, await Contents(""));
            Assert.Equal(new[] { "plan note three", "plan note two" }, await Contents($", session => '{session}'"));
            Assert.Equal(new[] { "plan note one", "plan note three" }, await Contents(", entity => 'ann'"));
        }
        Assert.Equal("force_custom_plan", await conn.ScalarAsync<string>("SHOW plan_cache_mode"));
    }

    [Fact]
    public async Task Recall_WithVector_AfterTheClientDeallocatesItsPreparedStatements_StillRanksByVector()
    {
        // recall keeps its vector statement prepared on the connection; a client that clears prepared
        // statements (DEALLOCATE ALL, DISCARD ALL, as poolers do) must not break the next recall.
        await _db.ExecuteAsync("SELECT memory.register_model('rc-prep', 3, true)");
        var ws = await _db.CreateWorkspaceAsync("rc_prep");
        await ws.ExecuteAsync("CALL remember('red planet', _embedding => '[1,0,0]'::vector, _model => 'rc-prep')");
        await ws.ExecuteAsync("CALL remember('blue ocean', _embedding => '[0,1,0]'::vector, _model => 'rc-prep')");
        await using var conn = await ws.OpenAsync();

        async Task<string> Top(string vector) =>
            (string)(await conn.QueryAsync($"SELECT content FROM recall('anything', k => 1, _embedding => '{vector}'::vector, _model => 'rc-prep')"))[0]["content"]!;

        Assert.Equal("red planet", await Top("[0.9,0.1,0]"));
        Assert.True(await conn.ScalarAsync<long>("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'memorysql_recall_%'") == 1);
        await conn.ExecAsync("DEALLOCATE ALL");
        Assert.Equal("blue ocean", await Top("[0.1,0.9,0]"));
        await conn.ExecAsync("DISCARD ALL");
        Assert.Equal("red planet", await Top("[0.8,0.2,0]"));
    }

    [Fact]
    public async Task Recall_SinceUntil_FilterOnCreationTime()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_time");
        var old = await ws.ScalarAsync<Guid>("CALL remember('timeline entry old')");
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = now() - interval '10 days' WHERE id = $1", old);
        await ws.ExecuteAsync("CALL remember('timeline entry new')");
        var recent = await ws.DataSource.QueryAsync("SELECT content FROM recall('timeline entry', since => now() - interval '1 day')");
        Assert.Equal("timeline entry new", Assert.Single(recent)["content"]);
        var older = await ws.DataSource.QueryAsync("SELECT content FROM recall('timeline entry', until => now() - interval '1 day')");
        Assert.Equal("timeline entry old", Assert.Single(older)["content"]);
    }

    [Fact]
    public async Task Recall_AsOf_ReturnsWhatWasBelievedThen()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_asof");
        var v1 = await ws.ScalarAsync<Guid>("CALL remember('Dana lives in Lisbon', entity => 'dana')");
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = now() - interval '2 days', valid_from = now() - interval '2 days' WHERE id = $1", v1);
        var v2 = await ws.ScalarAsync<Guid>("CALL revise($1, 'Dana lives in Porto')", v1);
        var now = await ws.DataSource.QueryAsync("SELECT id FROM recall('where does Dana live', entity => 'dana')");
        Assert.Equal(v2, Assert.Single(now)["id"]);
        var then = await ws.DataSource.QueryAsync("SELECT id, status FROM recall('where does Dana live', entity => 'dana', as_of => now() - interval '1 day')");
        var row = Assert.Single(then);
        Assert.Equal(v1, row["id"]);
        Assert.Equal("superseded", row["status"]);
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT id FROM recall('Dana', as_of => now() - interval '3 days')"));
    }

    [Fact]
    public async Task Recall_ArchivedMemories_OnlyWithIncludeArchived()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_archived");
        var id = await ws.ScalarAsync<Guid>("CALL remember('an archived thought about kites')");
        await _db.ExecuteAsync("UPDATE memory.memories SET status = 'archived' WHERE id = $1", id);
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT id FROM recall('kites')"));
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('kites', include_archived => true)"));
    }

    [Fact]
    public async Task Recall_MinScore_DropsWeakerRows()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_minscore");
        await ws.ExecuteAsync("CALL remember('garden hose garden hose garden', importance => 1)");
        await ws.ExecuteAsync("CALL remember('a hose', importance => 0)");
        var all = await ws.DataSource.QueryAsync("SELECT score FROM recall('garden hose')");
        Assert.Equal(2, all.Count);
        var cut = ((float)all[0]["score"]! + (float)all[1]["score"]!) / 2;
        Assert.Single(await ws.DataSource.QueryAsync("SELECT score FROM recall('garden hose', min_score => $1)", cut));
    }

    [Fact]
    public async Task Recall_WithEmbedding_RanksByVectorSimilarity()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rc-v3', 3)");
        var ws = await _db.CreateWorkspaceAsync("rc_vector");
        var east = await ws.ScalarAsync<Guid>("CALL remember('sunrise', _embedding => '[1,0,0]'::vector, _model => 'rc-v3')");
        await ws.ExecuteAsync("CALL remember('sunset', _embedding => '[0,1,0]'::vector, _model => 'rc-v3')");
        await ws.ExecuteAsync("CALL remember('midnight', _embedding => '[0,0,1]'::vector, _model => 'rc-v3')");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('morning light', k => 3, _embedding => '[0.9,0.1,0]'::vector, _model => 'rc-v3')");
        Assert.Equal(3, rows.Count);
        Assert.Equal(east, rows[0]["id"]);
        Assert.InRange((float)rows[0]["similarity"]!, 0.99f, 1f);
        Assert.Contains("vector", Signals(rows[0]));
        Assert.Contains("model:rc-v3", Signals(rows[0]));
        Assert.Equal(0f, (float)rows[0]["bm25"]!);
    }

    [Fact]
    public async Task Recall_EmbeddingOfWrongDimensionOrUnknownModel_Fails22023()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rc-dim3', 3)");
        var ws = await _db.CreateWorkspaceAsync("rc_baddim");
        var dim = await ws.DataSource.FailsAsync("SELECT * FROM recall('x', _embedding => '[1,0]'::vector, _model => 'rc-dim3')");
        Assert.Equal("22023", dim.SqlState);
        var unknown = await ws.DataSource.FailsAsync("SELECT * FROM recall('x', _embedding => '[1,0,0]'::vector, _model => 'nope')");
        Assert.Equal("22023", unknown.SqlState);
        Assert.Contains("rc-dim3", unknown.Hint);
    }

    [Theory]
    [InlineData("SELECT * FROM recall('x', k => 0)", "k")]
    [InlineData("SELECT * FROM recall('x', k => -3)", "k")]
    [InlineData("SELECT * FROM recall('')", "query")]
    [InlineData("SELECT * FROM recall(NULL)", "query")]
    [InlineData("SELECT * FROM recall('x', types => '{semantic,dreams}')", "types")]
    [InlineData("SELECT * FROM recall('x', layers => '{top}')", "layers")]
    [InlineData("SELECT * FROM recall('x', since => now(), until => now() - interval '1 day')", "since")]
    public async Task Recall_BadInput_Fails22023(string sql, string argument)
    {
        var ws = await _db.CreateWorkspaceAsync("rc_bad_" + Math.Abs(sql.GetHashCode() % 100000));
        var e = await ws.DataSource.FailsAsync(sql);
        Assert.Equal("22023", e.SqlState);
        Assert.Contains(argument, e.MessageText);
    }

    [Fact]
    public async Task Recall_RecordsAnAccessHit_FoldedIntoAccessStatistics_ButNotInReadOnlyTransactions()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_touch");
        var id = await ws.ScalarAsync<Guid>("CALL remember('touch me softly')");
        await using var conn = await ws.OpenAsync();
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await conn.ExecAsync("SET TRANSACTION READ ONLY");
            Assert.Single(await conn.QueryAsync("SELECT id FROM recall('touch')"));
            await tx.CommitAsync();
        }
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.access_log"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.query_embeddings"));

        Assert.Single(await conn.QueryAsync("SELECT id FROM recall('touch')"));
        Assert.Single(await conn.QueryAsync("SELECT id FROM recall('softly')"));
        // Recorded, not yet in the memory: the access worker folds within seconds, memory.fold_access() at once.
        Assert.Equal(2L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.access_log WHERE memory_id = $1", id));
        Assert.Equal(2L, await conn.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'access' AND key = 'pending_hits'"));
        Assert.Equal(0, await conn.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", id));
        Assert.Equal(2, await conn.ScalarAsync<int>("SELECT memory.fold_access()"));
        Assert.Equal(2, await conn.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", id));
        Assert.NotNull(await conn.ScalarAsync<DateTime?>("SELECT last_accessed_at FROM memory.memories WHERE id = $1", id));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.access_log"));
        Assert.Equal(0, await conn.ScalarAsync<int>("SELECT memory.fold_access()"));
    }

    [Fact]
    public async Task Recall_DoesNotWriteTheMemoryRows_ItReturns()
    {
        // The point of the access log: a recall writes no logged table, so its commit waits for no WAL flush.
        var ws = await _db.CreateWorkspaceAsync("rc_nowrite");
        var id = await ws.ScalarAsync<Guid>("CALL remember('a quiet read of the archive')");
        var before = await ws.ScalarAsync<string>("SELECT xmin::text FROM memory.memories WHERE id = $1", id);
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('quiet archive')"));
        Assert.Equal(before, await ws.ScalarAsync<string>("SELECT xmin::text FROM memory.memories WHERE id = $1", id));
        Assert.Equal("u", await ws.ScalarAsync<string>("SELECT relpersistence::text FROM pg_class WHERE oid = 'memory.access_log'::regclass"));
    }

    [Fact]
    public async Task Recall_RolledBack_CountsNoAccess()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_rollback");
        var id = await ws.ScalarAsync<Guid>("CALL remember('undo the lookup')");
        await using var conn = await ws.OpenAsync();
        await using (var tx = await conn.BeginTransactionAsync())
        {
            Assert.Single(await conn.QueryAsync("SELECT id FROM recall('lookup')"));
            await tx.RollbackAsync();
        }
        await conn.ScalarAsync<int>("SELECT memory.fold_access()");
        Assert.Equal(0, await conn.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", id));
    }

    [Fact]
    public async Task FoldAccess_NeverWaitsForALockedMemory_ItsHitsStayForTheNextFold()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_fold_lock");
        var locked = await ws.ScalarAsync<Guid>("CALL remember('held by a long transaction')");
        var free = await ws.ScalarAsync<Guid>("CALL remember('free to count, held by nobody')");
        Assert.Equal(2, (await ws.DataSource.QueryAsync("SELECT id FROM recall('held')")).Count);
        await using var holder = await ws.OpenAsync();
        await using (var tx = await holder.BeginTransactionAsync())
        {
            await holder.ExecAsync("SELECT 1 FROM memory.memories WHERE id = $1 FOR UPDATE", locked);
            await using var folder = await ws.OpenAsync();
            await folder.ExecAsync("SET lock_timeout = '5s'");  // a fold that waited would fail here instead of passing
            Assert.Equal(1, await folder.ScalarAsync<int>("SELECT memory.fold_access()"));
            Assert.Equal(1, await folder.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", free));
            Assert.Equal(0, await folder.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", locked));
            await tx.CommitAsync();
        }
        Assert.Equal(1, await ws.ScalarAsync<int>("SELECT memory.fold_access()"));
        Assert.Equal(1, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", locked));
    }

    [Fact]
    public async Task FoldAccess_CountsEachHitOnce_EvenWhenFoldsRunAtOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_fold_once");
        var id = await ws.ScalarAsync<Guid>("CALL remember('counted exactly once per recall')");
        for (var i = 0; i < 20; i++) Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('counted')"));
        var folds = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            await using var folder = await ws.OpenAsync();
            return await folder.ScalarAsync<int>("SELECT memory.fold_access(3)");
        }));
        var rest = await ws.ScalarAsync<int>("SELECT memory.fold_access()");
        Assert.Equal(20, folds.Sum() + rest);
        Assert.Equal(20, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", id));
    }

    [Fact]
    public async Task FoldAccess_ByAWorkspace_FoldsItsOwnHitsOnly_AndHitsCannotNameAnotherWorkspace()
    {
        var mine = await _db.CreateWorkspaceAsync("rc_fold_mine");
        var theirs = await _db.CreateWorkspaceAsync("rc_fold_theirs");
        var myId = await mine.ScalarAsync<Guid>("CALL remember('mine to recall')");
        var theirId = await theirs.ScalarAsync<Guid>("CALL remember('theirs to recall')");
        Assert.Single(await mine.DataSource.QueryAsync("SELECT id FROM recall('recall')"));
        Assert.Single(await theirs.DataSource.QueryAsync("SELECT id FROM recall('recall')"));
        Assert.Equal(1, await mine.ScalarAsync<int>("SELECT memory.fold_access()"));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.access_log WHERE memory_id = $1", theirId));
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() =>
            mine.ExecuteAsync("INSERT INTO memory.access_log (workspace, memory_id) VALUES ($1, $2)", theirs.Name, theirId));
        Assert.Equal("42501", e.SqlState);
        Assert.Equal(1, await mine.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", myId));
        Assert.Equal(0, await theirs.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", theirId));
    }

    [Fact]
    public async Task FoldAccess_UpdatesTheMemoriesHeapOnly_NoIndexEntries()
    {
        // The fold rewrites the rows recall reads most, every few seconds. It changes no indexed column, so with room
        // on the page each update is HOT (heap-only): no new entry in any of the table's indexes, and no index that
        // grows with every fold. An index over access_count or last_accessed_at would make every fold non-HOT.
        Assert.Equal(0L, await _db.ScalarAsync<long>(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'memory' AND tablename = 'memories' AND indexdef ~ '(access_count|last_accessed_at)'"));
        var ws = await _db.CreateWorkspaceAsync("rc_fold_hot");
        for (var i = 0; i < 3; i++) await ws.ScalarAsync<Guid>($"CALL remember('a hot row number {i} read again and again')");
        await using var conn = await ws.OpenAsync();
        var updated = 0L;
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(3, (await conn.QueryAsync("SELECT id FROM recall('hot row again')")).Count);
            // Room on the page, whatever else ran: rewritten at the table's fillfactor (80), every page has a fifth
            // free. Without it the previous round's versions stay until pruned, which any open snapshot in the
            // database (an autovacuum ANALYZE of this table, say) postpones: a CI run saw 1 of 3 updates HOT.
            await _db.ExecuteAsync("VACUUM FULL memory.memories");
            await using var tx = await conn.BeginTransactionAsync();
            const string updates = "SELECT pg_stat_get_xact_tuples_updated('memory.memories'::regclass)";
            const string hotUpdates = "SELECT pg_stat_get_xact_tuples_hot_updated('memory.memories'::regclass)";
            var (updatesBefore, hotBefore) = (await conn.ScalarAsync<long>(updates), await conn.ScalarAsync<long>(hotUpdates));
            Assert.Equal(3, await conn.ScalarAsync<int>("SELECT memory.fold_access()"));
            var (updatesAfter, hotAfter) = (await conn.ScalarAsync<long>(updates), await conn.ScalarAsync<long>(hotUpdates));
            await tx.CommitAsync();
            Assert.Equal(3L, updatesAfter - updatesBefore);
            Assert.Equal(updatesAfter - updatesBefore, hotAfter - hotBefore);
            updated += updatesAfter - updatesBefore;
        }
        Assert.Equal(9L, updated);
        Assert.Equal(3, await conn.ScalarAsync<int>("SELECT min(access_count) FROM memory.memories"));
    }

    [Fact]
    public async Task FoldAccess_DropsHitsOfMemoriesThatAreGone()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_fold_gone");
        var id = await ws.ScalarAsync<Guid>("CALL remember('soon deleted for good')");
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('deleted')"));
        await _db.ExecuteAsync("DELETE FROM memory.memories WHERE id = $1", id);
        Assert.Equal(1, await ws.ScalarAsync<int>("SELECT memory.fold_access()"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.access_log WHERE memory_id = $1", id));
    }

    [Fact]
    public async Task FoldAccess_WithABadBatchSize_Is22023()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_fold_bad");
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => ws.ExecuteAsync("SELECT memory.fold_access(0)"));
        Assert.Equal("22023", e.SqlState);
        Assert.Contains("batch_size", e.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recall_WithoutVector_QueuesQueryText_ThenUsesTheWorkersEmbedding()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rc-cache', 3, true)");
        var ws = await _db.CreateWorkspaceAsync("rc_cache");
        await ws.ExecuteAsync("CALL remember('red planet', _embedding => '[1,0,0]'::vector, _model => 'rc-cache')");
        await ws.ExecuteAsync("CALL remember('blue ocean', _embedding => '[0,1,0]'::vector, _model => 'rc-cache')");
        var first = await ws.DataSource.QueryAsync("SELECT * FROM recall('mars', _model => 'rc-cache')");
        Assert.Empty(first); // no lexical match and no vector yet
        Assert.Equal("mars", await ws.ScalarAsync<string>("SELECT query FROM memory.query_embeddings WHERE embedding IS NULL AND model = 'rc-cache'"));
        // What the embed worker does: fill in the vector.
        await _db.ExecuteAsync("UPDATE memory.query_embeddings SET embedding = '[0.95,0.05,0]' WHERE query = 'mars' AND model = 'rc-cache'");
        var second = await ws.DataSource.QueryAsync("SELECT * FROM recall('mars', _model => 'rc-cache')");
        Assert.Equal("red planet", second[0]["content"]);
        Assert.Contains("vector", Signals(second[0]));
    }

    [Fact]
    public async Task Recall_ModelStillBackfilling_FallsBackToLexical_AndSaysSo()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_backfill");
        await ws.ExecuteAsync("SELECT count(*) FROM generate_series(1, 40) g, memory.store('backfill item number ' || g) s");
        await _db.ExecuteAsync("SELECT memory.register_model('rc-new', 3)");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('backfill item', k => 5, _embedding => '[1,0,0]'::vector, _model => 'rc-new')");
        Assert.Equal(5, rows.Count);
        Assert.DoesNotContain("vector", Signals(rows[0]));
        Assert.Contains(Signals(rows[0]), s => s.Contains("still embedding", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Recall_CachedQueryVector_ModelStillBackfilling_FallsBackToLexical_AndSaysSo()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_backfill_cached");
        await ws.ExecuteAsync("SELECT count(*) FROM generate_series(1, 40) g, memory.store('backfill item number ' || g) s");
        await _db.ExecuteAsync("SELECT memory.register_model('rc-new-cached', 3)");
        // The embed worker has computed the query's vector, but not yet the memories'.
        await _db.ExecuteAsync("""
            INSERT INTO memory.query_embeddings (workspace, model, query_hash, query, embedding)
            VALUES ($1, 'rc-new-cached', memory.content_hash('backfill item'), 'backfill item', '[1,0,0]')
            """, ws.Name);
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('backfill item', k => 5, _model => 'rc-new-cached')");
        Assert.Equal(5, rows.Count);
        Assert.DoesNotContain("vector", Signals(rows[0]));
        Assert.DoesNotContain("model:rc-new-cached", Signals(rows[0]));
        Assert.Contains("fallback: model rc-new-cached is still embedding this workspace's memories", Signals(rows[0]));
    }

    [Fact]
    public async Task Recall_LexicalWithSelectiveFilter_StillReturnsK()
    {
        var ws = await _db.CreateWorkspaceAsync("rc_lexk");
        await ws.ExecuteAsync(
            "SELECT count(*) FROM generate_series(1, 600) g, " +
            "memory.store('shared keyword entry ' || g, tags => CASE WHEN g % 100 = 0 THEN '{rare}'::text[] ELSE '{}' END) s");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('shared keyword', k => 5, tags => '{rare}')");
        Assert.Equal(5, rows.Count);
        Assert.All(rows, r => Assert.Contains("rare", (string[])r["tags"]!));
    }
}
