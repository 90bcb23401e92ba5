using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Tests.Sql;

/// <summary>Effective importance (the decay formula) and archiving by memory.archive_decayed. Ages are set with explicit timestamps, never by waiting.</summary>
public sealed class DecayTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public DecayTests(TestDatabase db) => _db = db;

    private Task<float> FormulaAsync(double importance, bool pinned, int accessCount, string age, string halfLife = "30 days", double floor = 0.05, double boost = 0.2) =>
        _db.ScalarAsync<float>(
            $"SELECT memory.effective_importance($1::real, $2, $3, now() - interval '{age}', interval '{halfLife}', $4::real, $5::real, now())",
            importance, pinned, accessCount, floor, boost);

    [Fact]
    public async Task EffectiveImportance_HalvesEveryHalfLife_DownToTheFloor()
    {
        Assert.Equal(0.8f, await FormulaAsync(0.8, false, 0, "0 days"), 4);
        Assert.Equal(0.4f, await FormulaAsync(0.8, false, 0, "30 days"), 4);
        Assert.Equal(0.2f, await FormulaAsync(0.8, false, 0, "60 days"), 4);
        Assert.Equal(0.8f * 0.05f, await FormulaAsync(0.8, false, 0, "3000 days"), 4);
        // Ages far beyond anything exp() can represent stay at the floor instead of raising an underflow error.
        Assert.Equal(0.8f * 0.05f, await FormulaAsync(0.8, false, 0, "5000 years"), 4);
        // A last use in the future (clock skew, as_of in the past) counts as no age at all.
        Assert.Equal(0.8f, await FormulaAsync(0.8, false, 0, "-5 days"), 4);
    }

    [Fact]
    public async Task EffectiveImportance_AccessLiftsItByTheLogOfTheCount_CappedAtOne()
    {
        var expected = (float)(0.4 * (1 + 0.2 * Math.Log(11)));
        Assert.Equal(expected, await FormulaAsync(0.8, false, 10, "30 days"), 4);
        Assert.Equal(1f, await FormulaAsync(0.9, false, 1000, "0 days"), 4);
        Assert.Equal(0.4f, await FormulaAsync(0.8, false, 10, "30 days", boost: 0), 4);
    }

    [Fact]
    public async Task EffectiveImportance_Pinned_DoesNotDecay()
    {
        Assert.Equal(0.9f, await FormulaAsync(0.3, true, 0, "3000 days"), 4);
        Assert.Equal(1f, await FormulaAsync(1, true, 0, "3000 days"), 4);
    }

    [Fact]
    public async Task MemoriesCurrentAndRecall_ShowTheDecayedImportance_FromTheWorkspacePolicy()
    {
        var ws = await _db.CreateWorkspaceAsync("decay_view");
        var id = await ws.ScalarAsync<Guid>("CALL remember('The quarterly report is due in March', importance => 0.8)");
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = now() - interval '10 days' WHERE id = $1", id);
        // A workspace policy with a 10-day half-life: one half-life old.
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, decay_half_life) VALUES ($1, '10 days')", ws.Name);
        try
        {
            var current = await ws.ScalarAsync<float>("SELECT effective_importance FROM memory.memories_current WHERE id = $1", id);
            Assert.Equal(0.4f, current, 3);
            Assert.Equal(current, await ws.ScalarAsync<float>("SELECT memory.effective_importance(m) FROM memory.memories m WHERE id = $1", id), 4);
            var recalled = Assert.Single(await ws.DataSource.QueryAsync("SELECT id, importance FROM recall('quarterly report due', k => 1)"));
            Assert.Equal(current, (float)recalled["importance"]!, 3);
            // recall touched it: once its access hit is folded (the access worker, within seconds; here at once),
            // it was used now, so it is back to full strength (plus the access lift).
            Assert.Equal(current, await ws.ScalarAsync<float>("SELECT effective_importance FROM memory.memories_current WHERE id = $1", id), 3);
            Assert.Equal(1, await ws.ScalarAsync<int>("SELECT memory.fold_access()"));
            var after = await ws.ScalarAsync<float>("SELECT effective_importance FROM memory.memories_current WHERE id = $1", id);
            Assert.Equal((float)(0.8 * (1 + 0.2 * Math.Log(2))), after, 3);
        }
        finally
        {
            await _db.ExecuteAsync("DELETE FROM memory.policies WHERE workspace = $1", ws.Name);
        }
    }

    [Fact]
    public async Task ArchiveDecayed_CountsRecallsNotFoldedYet_ARecalledMemoryIsNotArchived()
    {
        var ws = await _db.CreateWorkspaceAsync("decay_pending");
        var recalled = await OldMemoryAsync(ws, "The spare key hangs behind the garage door", 0.5, "200 days");
        var forgotten = await OldMemoryAsync(ws, "The old spare tyre was sold in spring", 0.5, "200 days");
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('key garage door', k => 1)"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.access_log"));   // not folded yet

        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT archived FROM memory.archive_decayed_all()"));
        Assert.Equal("active", await StatusAsync(recalled));
        Assert.Equal("archived", await StatusAsync(forgotten));
        Assert.Equal(1, await ws.ScalarAsync<int>("SELECT access_count FROM memory.memories WHERE id = $1", recalled));
    }

    private async Task<Guid> OldMemoryAsync(TestRole ws, string content, double importance, string createdAgo, string? accessedAgo = null,
        bool pinned = false, int accessCount = 0)
    {
        var id = await ws.ScalarAsync<Guid>("CALL remember($1, importance => $2::real, pinned => $3)", content, importance, pinned);
        await _db.ExecuteAsync(
            $"UPDATE memory.memories SET created_at = now() - interval '{createdAgo}', valid_from = now() - interval '{createdAgo}', " +
            $"last_accessed_at = {(accessedAgo is null ? "NULL" : $"now() - interval '{accessedAgo}'")}, access_count = $2 WHERE id = $1",
            id, accessCount);
        return id;
    }

    private async Task<string> StatusAsync(Guid id) => (await _db.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", id))!;

    [Fact]
    public async Task ArchiveDecayed_ArchivesOnlyOldUnusedFadedMemories_AndAuditsThem()
    {
        var ws = await _db.CreateWorkspaceAsync("decay_archive");
        var faded = await OldMemoryAsync(ws, "The old printer code was 4411", 0.5, "200 days");
        var pinned = await OldMemoryAsync(ws, "Dana's passport number ends in 77", 0.5, "200 days", pinned: true);
        var recentlyUsed = await OldMemoryAsync(ws, "The wifi password is on the fridge", 0.5, "200 days", accessedAgo: "10 days");
        var young = await OldMemoryAsync(ws, "Lunch was pasta", 0.05, "10 days");
        var essential = await OldMemoryAsync(ws, "Dana is allergic to penicillin", 1, "95 days", accessCount: 3);

        var result = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.archive_decayed_all()"));
        Assert.Equal(1L, result["archived"]);
        Assert.Equal("archived", await StatusAsync(faded));
        Assert.Equal("active", await StatusAsync(pinned));
        Assert.Equal("active", await StatusAsync(recentlyUsed));
        Assert.Equal("active", await StatusAsync(young));
        Assert.Equal("active", await StatusAsync(essential));   // 1 · 0.5^(95/30) · (1 + 0.2·ln 4) ≈ 0.14 > 0.1

        var audit = Assert.Single(await ws.DataSource.QueryAsync("SELECT action, old, new, detail::text AS detail FROM memory.events WHERE memory_id = $1 AND action = 'archive'", faded));
        Assert.Contains("\"reason\": \"decay\"", (string)audit["detail"]!);
        Assert.Contains("effective_importance", (string)audit["detail"]!);
        // Archived, not deleted: include_archived and history still find it.
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT id FROM recall('printer code', k => 5)"));
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM recall('printer code', k => 5, include_archived => true)"));
        Assert.Contains(await ws.DataSource.QueryAsync("SELECT action FROM history($1)", faded), r => (string?)r["action"] == "archive");
        // A second pass finds nothing more to do.
        Assert.Equal(0L, (await ws.DataSource.QueryAsync("SELECT * FROM memory.archive_decayed_all()"))[0]["archived"]);
    }

    [Fact]
    public async Task ArchiveDecayed_PolicyData_ChangeWhatIsArchived()
    {
        var ws = await _db.CreateWorkspaceAsync("decay_policy");
        var id = await OldMemoryAsync(ws, "The parking spot is B12", 0.5, "40 days");
        await ws.DataSource.QueryAsync("SELECT * FROM memory.archive_decayed_all()");
        Assert.Equal("active", await StatusAsync(id));  // younger than the default archive_min_age (90 days)
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, archive_min_age, decay_half_life, archive_threshold) VALUES ($1, '30 days', '5 days', 0.2)", ws.Name);
        try
        {
            await ws.DataSource.QueryAsync("SELECT * FROM memory.archive_decayed_all()");
            Assert.Equal("archived", await StatusAsync(id));
        }
        finally
        {
            await _db.ExecuteAsync("DELETE FROM memory.policies WHERE workspace = $1", ws.Name);
        }
    }

    [Fact]
    public async Task ArchiveDecayed_Batches_WalkEveryMemoryOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("decay_batches");
        await ws.ExecuteAsync("SELECT count(*) FROM generate_series(1, 25) g, memory.store('batch note ' || g, importance => 0.2) s");
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = now() - interval '300 days' WHERE workspace = $1", ws.Name);
        DateTime? after = null;
        Guid? afterId = null;
        var scanned = 0L;
        var archived = 0L;
        var batches = 0;
        while (true)
        {
            var row = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.archive_decayed(10, $1, $2)",
                after is null ? DBNull.Value : after, afterId is null ? DBNull.Value : afterId));
            if ((int)row["scanned"]! == 0) break;
            batches++;
            scanned += (int)row["scanned"]!;
            archived += (int)row["archived"]!;
            after = (DateTime)row["last_created"]!;
            afterId = (Guid)row["last_id"]!;
        }
        Assert.Equal(3, batches);
        Assert.Equal(25, scanned);
        Assert.Equal(25, archived);
        Assert.Equal(25L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE workspace = $1 AND action = 'archive'", ws.Name));
    }

    [Fact]
    public async Task ArchiveDecayed_ConcurrentPasses_ArchiveEveryMemoryExactlyOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("decay_concurrent");
        await ws.ExecuteAsync("SELECT count(*) FROM generate_series(1, 400) g, memory.store('concurrent note ' || g, importance => 0.2) s");
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = now() - interval '300 days' WHERE workspace = $1", ws.Name);
        async Task<long> PassAsync()
        {
            await using var conn = await ws.OpenAsync();
            return (long)(await conn.QueryAsync("SELECT * FROM memory.archive_decayed_all(7)"))[0]["archived"]!;
        }
        var results = await Task.WhenAll(PassAsync(), PassAsync(), PassAsync());
        Assert.Equal(400, results.Sum());
        Assert.Equal(400L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE workspace = $1 AND action = 'archive'", ws.Name));
        Assert.Equal(400L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE workspace = $1 AND status = 'archived'", ws.Name));
    }

    [Fact]
    public async Task ArchiveDecayed_OnlySeesItsOwnWorkspace()
    {
        var mine = await _db.CreateWorkspaceAsync("decay_mine");
        var theirs = await _db.CreateWorkspaceAsync("decay_theirs");
        var other = await OldMemoryAsync(theirs, "Their faded note", 0.1, "400 days");
        await mine.DataSource.QueryAsync("SELECT * FROM memory.archive_decayed_all()");
        Assert.Equal("active", await StatusAsync(other));
    }

    [Theory]
    [InlineData("SELECT * FROM memory.archive_decayed(0)", "batch_size")]
    [InlineData("SELECT * FROM memory.archive_decayed(10, now(), NULL)", "after_id")]
    public async Task ArchiveDecayed_BadArguments_Are22023(string sql, string argument)
    {
        var ws = await _db.CreateWorkspaceAsync("decay_bad_" + argument);
        var error = await ws.DataSource.FailsAsync(sql);
        Assert.Equal("22023", error.SqlState);
        Assert.Contains(argument, error.MessageText, StringComparison.Ordinal);
    }
}
