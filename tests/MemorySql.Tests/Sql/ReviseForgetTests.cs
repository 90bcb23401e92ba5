using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class ReviseForgetTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public ReviseForgetTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Revise_SupersedesOldVersion_LinksThem_AndInheritsOptions()
    {
        var ws = await _db.CreateWorkspaceAsync("rev_basic");
        var v1 = await ws.ScalarAsync<Guid>("CALL remember('Dana lives in Lisbon', kind => 'fact', tags => '{home}', entity => 'dana', importance => 0.7)");
        var v2 = await ws.ScalarAsync<Guid>("CALL revise($1, 'Dana lives in Porto', reason => 'moved')", v1);
        Assert.NotEqual(v1, v2);
        var old = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.memories WHERE id = $1", v1));
        Assert.Equal("superseded", old["status"]);
        Assert.Equal(v2, old["superseded_by"]);
        Assert.NotNull(old["valid_to"]);
        var cur = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.memories WHERE id = $1", v2));
        Assert.Equal("active", cur["status"]);
        Assert.Equal("dana", cur["entity"]);
        Assert.Equal(new[] { "home" }, (string[])cur["tags"]!);
        Assert.Equal(0.7f, (float)cur["importance"]!);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND target_id = $2 AND relation = 'supersedes'", v2, v1));
    }

    [Fact]
    public async Task History_ListsEveryVersionBothWays_AndTheirEvents()
    {
        var ws = await _db.CreateWorkspaceAsync("rev_history");
        var v1 = await ws.ScalarAsync<Guid>("CALL remember('version one')");
        var v2 = await ws.ScalarAsync<Guid>("CALL revise($1, 'version two')", v1);
        var v3 = await ws.ScalarAsync<Guid>("CALL revise($1, 'version three')", v2);
        foreach (var start in new[] { v1, v2, v3 })
        {
            var versions = (await ws.DataSource.QueryAsync("SELECT memory_id, version, content FROM history($1) WHERE item = 'version' ORDER BY version", start));
            Assert.Equal(new[] { v1, v2, v3 }, versions.Select(r => (Guid)r["memory_id"]!).ToArray());
            Assert.Equal(new[] { 1, 2, 3 }, versions.Select(r => (int)r["version"]!).ToArray());
        }
        var actions = (await ws.DataSource.QueryAsync("SELECT action FROM history($1) WHERE item = 'event' ORDER BY at", v2)).Select(r => (string)r["action"]!).ToList();
        // In time order: v1 remembered; revising v1 remembers v2, then records the revise of v1; and so on.
        Assert.Equal(new[] { "remember", "remember", "revise", "remember", "revise" }, actions);
    }

    [Fact]
    public async Task Revise_SupersededOrUnknownMemory_Fails22023()
    {
        var ws = await _db.CreateWorkspaceAsync("rev_bad");
        var v1 = await ws.ScalarAsync<Guid>("CALL remember('first')");
        await ws.ExecuteAsync("CALL revise($1, 'second')", v1);
        var e = await ws.DataSource.FailsAsync("CALL revise($1, 'third')", v1);
        Assert.Equal("22023", e.SqlState);
        Assert.Contains("superseded", e.MessageText);
        var unknown = await ws.DataSource.FailsAsync("CALL revise($1, 'x')", Guid.NewGuid());
        Assert.Equal("22023", unknown.SqlState);
        var current = await ws.ScalarAsync<Guid>("SELECT id FROM memory.memories WHERE status = 'active'");
        var empty = await ws.DataSource.FailsAsync("CALL revise($1, '')", current);
        Assert.Equal("22023", empty.SqlState);
        Assert.Equal("active", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE content = 'second'"));
    }

    [Fact]
    public async Task Forget_Soft_MarksDeleted_HidesFromRecall_AndAudits()
    {
        var ws = await _db.CreateWorkspaceAsync("fg_soft");
        var id = await ws.ScalarAsync<Guid>("CALL remember('a secret about penguins')");
        await ws.ExecuteAsync("CALL forget($1, reason => 'user asked')", id);
        Assert.Equal("deleted", await ws.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", id));
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT * FROM recall('penguins')"));
        Assert.Empty(await ws.DataSource.QueryAsync("SELECT * FROM recall('penguins', include_archived => true)"));
        Assert.Equal("user asked", await ws.ScalarAsync<string>("SELECT detail ->> 'reason' FROM memory.events WHERE action = 'forget' AND memory_id = $1", id));
    }

    [Fact]
    public async Task Forget_Hard_RemovesRowEdgesEmbeddingsPostingsAndEveryVersion()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('fg-3', 3)");
        var ws = await _db.CreateWorkspaceAsync("fg_hard");
        var v1 = await ws.ScalarAsync<Guid>("CALL remember('old fact about owls', _embedding => '[1,0,0]'::vector, _model => 'fg-3')");
        var v2 = await ws.ScalarAsync<Guid>("CALL revise($1, 'new fact about owls')", v1);
        var other = await ws.ScalarAsync<Guid>("CALL remember('unrelated')");
        await ws.ExecuteAsync("CALL associate($1, $2, 'relates_to')", v2, other);
        await ws.ExecuteAsync("CALL forget($1, hard => true)", v2);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE id IN ($1, $2)", v1, v2));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations"));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.embeddings"));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE memory_id IN ($1, $2)", v1, v2));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_postings WHERE memory_id IN ($1, $2)", v1, v2));
        // Earlier events of the forgotten memories keep no fields (content hash, tags) any more.
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE memory_id IN ($1, $2) AND (new IS NOT NULL OR old IS NOT NULL)", v1, v2));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
    }

    [Fact]
    public async Task ForgetSubject_RemovesEverythingOfTheEntity_AndLeavesContentFreeTombstone()
    {
        var ws = await _db.CreateWorkspaceAsync("fg_subject");
        await using var conn = await ws.OpenAsync();
        var session = await conn.ScalarAsync<Guid>("SELECT session_start(entity => 'erin@example.com')");
        await conn.ExecAsync("SELECT session_set('mood', '\"sunny\"')");
        var a = await conn.ScalarAsync<Guid>("CALL remember('Erin has a cat named Miso', entity => 'erin@example.com')");
        var b = await conn.ScalarAsync<Guid>("CALL remember('said during the session', entity => 'someone-else')"); // session-bound
        await conn.ExecAsync("RESET memory.session");
        var keep = await conn.ScalarAsync<Guid>("CALL remember('The office closes at six')");
        await conn.ExecAsync("CALL associate($1, $2, 'relates_to')", a, keep);
        await conn.ExecAsync("CALL ingest('[{\"role\": \"user\", \"content\": \"I am Erin\"}]', entity => 'erin@example.com')");

        await conn.ExecAsync("CALL forget_subject('erin@example.com')");

        Assert.Equal(new[] { keep }, (await conn.QueryAsync("SELECT id FROM memory.memories")).Select(r => (Guid)r["id"]!).ToArray());
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.resources"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.extraction_queue"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.sessions WHERE id = $1", session));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.session_items"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.associations"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_postings WHERE memory_id IN ($1, $2)", a, b));
        // Nothing in the audit log names the subject or holds its content.
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.events e WHERE e::text ILIKE '%erin%' OR e::text ILIKE '%miso%'"));
        var tombstone = Assert.Single(await conn.QueryAsync("SELECT detail FROM memory.events WHERE action = 'forget_subject'"));
        Assert.Contains("entity_sha256", (string)tombstone["detail"]!);
        Assert.Equal(2L, await conn.ScalarAsync<long>("SELECT (detail ->> 'memories')::bigint FROM memory.events WHERE action = 'forget_subject'"));
    }

    [Fact]
    public async Task Forget_UnknownId_Fails22023()
    {
        var ws = await _db.CreateWorkspaceAsync("fg_unknown");
        var e = await ws.DataSource.FailsAsync("CALL forget($1)", Guid.NewGuid());
        Assert.Equal("22023", e.SqlState);
        var blank = await ws.DataSource.FailsAsync("CALL forget_subject('  ')");
        Assert.Equal("22023", blank.SqlState);
    }
}
