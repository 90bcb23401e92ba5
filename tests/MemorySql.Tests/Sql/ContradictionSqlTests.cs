using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

/// <summary>Contradiction cases: recording, settling automatically or by hand, history and time travel, errors.</summary>
public sealed class ContradictionSqlTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public ContradictionSqlTests(TestDatabase db) => _db = db;

    /// <summary>Remembers a fact as if it had been recorded on <paramref name="validFrom"/> (created_at moved back with it).</summary>
    private async Task<Guid> RememberAsync(TestRole ws, string content, string validFrom, string entity = "dana")
    {
        var id = await ws.ScalarAsync<Guid>("CALL remember($1, entity => $2, valid_from => $3::timestamptz)", content, entity, validFrom);
        await _db.ExecuteAsync("UPDATE memory.memories SET created_at = valid_from WHERE id = $1", id);
        return id;
    }

    private static async Task<(long Id, string Outcome)> RecordAsync(TestRole ws, Guid newer, Guid older, bool resolve, string verdict = "updates", double confidence = 0.8)
    {
        var row = Assert.Single(await ws.DataSource.QueryAsync(
            "SELECT * FROM memory.record_contradiction($1, $2, $3, 'heuristic', $4::real, 0.7, 'lives in: Lisbon -> Porto', $5)",
            newer, older, verdict, confidence, resolve));
        return (row["contradiction_id"] is long id ? id : 0, (string)row["outcome"]!);
    }

    private static Task<List<Dictionary<string, object?>>> RecallAsOfAsync(TestRole ws, string query, string? asOf) =>
        asOf is null
            ? ws.DataSource.QueryAsync("SELECT content FROM recall($1, k => 10, entity => 'dana')", query)
            : ws.DataSource.QueryAsync("SELECT content FROM recall($1, k => 10, entity => 'dana', as_of => $2::timestamptz)", query, asOf);

    [Fact]
    public async Task Resolved_TheOlderIsSuperseded_WithEdgeHistoryAndTimeTravel()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_auto");
        var lisbon = await RememberAsync(ws, "Dana lives in Lisbon", "2026-01-01");
        var porto = await RememberAsync(ws, "Dana lives in Porto", "2026-06-01");
        var (id, outcome) = await RecordAsync(ws, porto, lisbon, resolve: true);
        Assert.Equal("superseded", outcome);

        var old = Assert.Single(await ws.DataSource.QueryAsync("SELECT status, superseded_by, valid_to FROM memory.memories WHERE id = $1", lisbon));
        Assert.Equal("superseded", old["status"]);
        Assert.Equal(porto, old["superseded_by"]);
        Assert.Equal(new DateTime(2026, 6, 1, 0, 0, 0, DateTimeKind.Utc), old["valid_to"]);
        var edge = Assert.Single(await ws.DataSource.QueryAsync("SELECT metadata ->> 'resolution' AS resolution, weight FROM memory.associations WHERE source_id = $1 AND target_id = $2 AND relation = 'contradicts'", porto, lisbon));
        Assert.Equal("newer", edge["resolution"]);
        var settled = Assert.Single(await ws.DataSource.QueryAsync("SELECT state, resolution, resolved_by::text AS by, method FROM memory.contradiction_cases WHERE id = $1", id));
        Assert.Equal(("resolved", "newer", "auto:heuristic", "heuristic"), ((string)settled["state"]!, (string)settled["resolution"]!, (string)settled["by"]!, (string)settled["method"]!));
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT * FROM memory.contradictions"));

        // History keeps both, in order, with the events that explain the change.
        var history = await ws.DataSource.QueryAsync("SELECT item, memory_id, version, action FROM history($1)", porto);
        Assert.Equal([lisbon, porto], history.Where(h => (string)h["item"]! == "version").Select(h => (Guid)h["memory_id"]!).ToArray());
        Assert.Contains(history, h => (string?)h["action"] == "contradiction");
        Assert.Contains(history, h => (string?)h["action"] == "supersede" && (Guid)h["memory_id"]! == lisbon);

        // What was believed when.
        Assert.Equal(["Dana lives in Lisbon"], (await RecallAsOfAsync(ws, "where does Dana live", "2026-03-01")).Select(r => (string)r["content"]!));
        Assert.Equal(["Dana lives in Porto"], (await RecallAsOfAsync(ws, "where does Dana live", "2026-07-01")).Select(r => (string)r["content"]!));
        Assert.Equal(["Dana lives in Porto"], (await RecallAsOfAsync(ws, "where does Dana live", null)).Select(r => (string)r["content"]!));
        Assert.Empty(await RecallAsOfAsync(ws, "where does Dana live", "2025-12-01"));

        // Recording the same pair again (either way round) changes nothing.
        Assert.Equal((id, "exists"), await RecordAsync(ws, porto, lisbon, resolve: true));
        Assert.Equal((id, "exists"), await RecordAsync(ws, lisbon, porto, resolve: false));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'supersede'"));
    }

    [Fact]
    public async Task Open_IsListedAndBriefed_ThenKeepNewer_SupersedesTheOlder()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_newer");
        var veg = await RememberAsync(ws, "Dana is vegetarian", "2026-01-01");
        var vegan = await RememberAsync(ws, "Dana is vegan", "2026-02-01");
        var (id, outcome) = await RecordAsync(ws, vegan, veg, resolve: false, verdict: "contradicts", confidence: 0.55);
        Assert.Equal("opened", outcome);
        var open = Assert.Single(await ws.DataSource.QueryAsync("SELECT id, newer_id, older_id, newer_content, older_content, verdict, method, confidence FROM memory.contradictions"));
        Assert.Equal((id, vegan, veg, "Dana is vegan", "Dana is vegetarian"), ((long)open["id"]!, (Guid)open["newer_id"]!, (Guid)open["older_id"]!, (string)open["newer_content"]!, (string)open["older_content"]!));
        var brief = await ws.DataSource.QueryAsync("SELECT id, reason, detail ->> 'contradiction_id' AS cid FROM briefing('dana')");
        Assert.All(brief.Where(b => (Guid)b["id"]! == veg || (Guid)b["id"]! == vegan), b => Assert.Equal(("contradiction", id.ToString(System.Globalization.CultureInfo.InvariantCulture)), ((string)b["reason"]!, (string)b["cid"]!)));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'contradictions' AND key = 'open'"));

        await ws.ExecuteAsync("CALL resolve_contradiction($1, keep => 'newer', note => 'confirmed with Dana')", id);
        Assert.Equal("superseded", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", veg));
        Assert.Equal("active", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", vegan));
        var settled = Assert.Single(await ws.DataSource.QueryAsync("SELECT state, resolution, note, resolved_by::text AS by FROM memory.contradiction_cases WHERE id = $1", id));
        Assert.Equal(("resolved", "newer", "confirmed with Dana", ws.Name), ((string)settled["state"]!, (string)settled["resolution"]!, (string)settled["note"]!, (string)settled["by"]!));
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT * FROM memory.contradictions"));
        Assert.DoesNotContain(await ws.DataSource.QueryAsync("SELECT reason FROM briefing('dana')"), b => (string)b["reason"]! == "contradiction");
        Assert.Contains("confirmed with Dana", await ws.ScalarAsync<string>("SELECT detail::text FROM memory.events WHERE action = 'resolve_contradiction'"));
    }

    [Fact]
    public async Task KeepOlder_SupersedesTheNewer_WhichNeverCountsAsValid()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_older");
        var right = await RememberAsync(ws, "Dana's birthday is on March 3", "2026-01-01");
        var wrong = await RememberAsync(ws, "Dana's birthday is on March 8", "2026-02-01");
        var (id, _) = await RecordAsync(ws, wrong, right, resolve: false, verdict: "contradicts", confidence: 0.6);
        await ws.ExecuteAsync("CALL resolve_contradiction($1, 'older', 'typo in the chat')", id);
        var row = Assert.Single(await ws.DataSource.QueryAsync("SELECT status, superseded_by, valid_to = valid_from AS never FROM memory.memories WHERE id = $1", wrong));
        Assert.Equal(("superseded", right, true), ((string)row["status"]!, (Guid)row["superseded_by"]!, (bool)row["never"]!));
        Assert.Equal("active", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", right));
        Assert.Equal(["Dana's birthday is on March 3"], (await RecallAsOfAsync(ws, "Dana birthday", "2026-03-01")).Select(r => (string)r["content"]!));
    }

    [Fact]
    public async Task KeepBoth_LeavesBothActive_AndClosesTheCase()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_both");
        var a = await RememberAsync(ws, "Dana prefers window seats", "2026-01-01");
        var b = await RememberAsync(ws, "Dana prefers aisle seats", "2026-02-01");
        var (id, _) = await RecordAsync(ws, b, a, resolve: false);
        await ws.ExecuteAsync("CALL resolve_contradiction($1, 'both', 'window on long flights, aisle on short ones')", id);
        Assert.Equal(2L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE status = 'active'"));
        Assert.Equal("both", await ws.ScalarAsync<string>("SELECT metadata ->> 'resolution' FROM memory.associations WHERE relation = 'contradicts'"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'contradictions' AND key = 'resolved:both'"));
    }

    [Fact]
    public async Task ManualContradictsEdge_OpensACase()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_manual");
        var a = await RememberAsync(ws, "Dana is vegetarian", "2026-01-01");
        var b = await RememberAsync(ws, "Dana ordered the steak", "2026-02-01");
        await ws.ExecuteAsync("CALL associate($1, $2, 'contradicts', 0.7)", a, b);  // written either way round
        var open = Assert.Single(await ws.DataSource.QueryAsync("SELECT id, newer_id, method, confidence FROM memory.contradictions"));
        Assert.Equal((b, "manual", 0.7f), ((Guid)open["newer_id"]!, (string)open["method"]!, (float)open["confidence"]!));
        await ws.ExecuteAsync("CALL resolve_contradiction($1, keep => 'both', note => 'the steak was for a colleague')", (long)open["id"]!);
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT * FROM memory.contradictions"));
    }

    [Fact]
    public async Task ResolveContradiction_BadInput_HasClearSqlStates_AndChangesNothing()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_errors");
        var other = await _db.CreateWorkspaceAsync("ct_errors_other");
        var a = await RememberAsync(ws, "Dana drinks coffee", "2026-01-01");
        var b = await RememberAsync(ws, "Dana never drinks coffee", "2026-02-01");
        var (id, _) = await RecordAsync(ws, b, a, resolve: false, verdict: "contradicts", confidence: 0.6);

        var unknown = await ws.DataSource.FailsAsync("CALL resolve_contradiction(987654321, 'newer')");
        Assert.Equal("22023", unknown.SqlState);
        Assert.Contains("no contradiction 987654321", unknown.MessageText, StringComparison.Ordinal);
        Assert.Equal("22023", (await ws.DataSource.FailsAsync("CALL resolve_contradiction($1, 'latest')", id)).SqlState);
        Assert.Equal("22023", (await ws.DataSource.FailsAsync("CALL resolve_contradiction(NULL, 'newer')")).SqlState);
        Assert.Equal("22023", (await other.DataSource.FailsAsync("CALL resolve_contradiction($1, 'newer')", id)).SqlState);  // another workspace's case
        Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.contradictions"));

        await ws.ExecuteAsync("CALL resolve_contradiction($1, 'newer')", id);
        var again = await ws.DataSource.FailsAsync("CALL resolve_contradiction($1, 'older')", id);
        Assert.Equal("P0001", again.SqlState);
        Assert.Contains("already resolved", again.MessageText, StringComparison.Ordinal);
        Assert.Equal("active", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", b));
    }

    [Theory]
    [InlineData("SELECT * FROM memory.record_contradiction($1, $2, 'disagrees')", "verdict")]
    [InlineData("SELECT * FROM memory.record_contradiction($1, $2, method => 'oracle')", "method")]
    [InlineData("SELECT * FROM memory.record_contradiction($1, $2, confidence => 1.5)", "confidence")]
    [InlineData("SELECT * FROM memory.record_contradiction($1, $1)", "older")]
    public async Task RecordContradiction_BadArguments_Are22023(string sql, string argument)
    {
        var ws = await _db.CreateWorkspaceAsync("ct_rec_" + argument);
        var a = await RememberAsync(ws, "Dana likes tea", "2026-01-01");
        var b = await RememberAsync(ws, "Dana hates tea", "2026-02-01");
        var error = await ws.DataSource.FailsAsync(sql, b, a);
        Assert.Equal("22023", error.SqlState);
        Assert.Contains(argument, error.MessageText, StringComparison.Ordinal);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.contradiction_cases"));
    }

    [Fact]
    public async Task RecordContradiction_AcrossEntities_Is22023()
    {
        var ws = await _db.CreateWorkspaceAsync("ct_entities");
        var a = await RememberAsync(ws, "Lives in Lisbon", "2026-01-01", entity: "dana");
        var b = await RememberAsync(ws, "Lives in Porto", "2026-02-01", entity: "bob");
        var error = await ws.DataSource.FailsAsync("SELECT * FROM memory.record_contradiction($1, $2)", b, a);
        Assert.Equal("22023", error.SqlState);
        Assert.Contains("different entities", error.MessageText, StringComparison.Ordinal);
    }
}
