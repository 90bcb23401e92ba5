using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class SessionTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public SessionTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task SessionStart_SetsConnectionSetting_AndSetGetUseIt()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_basic");
        await using var conn = await ws.OpenAsync();
        var id = await conn.ScalarAsync<Guid>("SELECT session_start('dana', 'travel-agent', interval '30 minutes')");
        Assert.Equal(id.ToString(), await conn.ScalarAsync<string>("SELECT current_setting('memory.session')"));
        await conn.ExecAsync("SELECT session_set('seat', '\"aisle\"')");
        await conn.ExecAsync("SELECT session_set('budget', '{\"max\": 400}')");
        Assert.Equal("\"aisle\"", await conn.ScalarAsync<string>("SELECT session_get('seat')::text"));
        Assert.Equal(400, await conn.ScalarAsync<int>("SELECT (session_get('budget') ->> 'max')::int"));
        Assert.Null(await conn.ScalarAsync<string>("SELECT session_get('missing')::text"));
        var s = Assert.Single(await conn.QueryAsync("SELECT entity, process, status, expires_at > now() AS alive FROM memory.sessions"));
        Assert.Equal("dana", s["entity"]);
        Assert.Equal("open", s["status"]);
        Assert.True((bool)s["alive"]!);
    }

    [Fact]
    public async Task SessionItemTtl_ExpiresTheItem()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_item_ttl");
        await using var conn = await ws.OpenAsync();
        await conn.ExecAsync("SELECT session_start()");
        await conn.ExecAsync("SELECT session_set('flash', '1', ttl => interval '1 millisecond')");
        await conn.ExecAsync("SELECT pg_sleep(0.02)");
        Assert.Null(await conn.ScalarAsync<string>("SELECT session_get('flash')::text"));
    }

    [Fact]
    public async Task ExpiredSession_RefusesWrites_WithP0001()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_ttl");
        await using var conn = await ws.OpenAsync();
        var id = await conn.ScalarAsync<Guid>("SELECT session_start(ttl => interval '1 hour')");
        await _db.ExecuteAsync("UPDATE memory.sessions SET expires_at = now() - interval '1 second' WHERE id = $1", id);
        var e = await conn.FailsAsync("SELECT session_set('k', '1')");
        Assert.Equal("P0001", e.SqlState);
        Assert.Contains("expired", e.MessageText);
        Assert.Null(await conn.ScalarAsync<string>("SELECT session_get('k')::text"));
    }

    [Fact]
    public async Task SessionCommit_QueuesChangedItemsForExtraction_AsOneSessionResource()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_extract");
        await using var conn = await ws.OpenAsync();
        var id = await conn.ScalarAsync<Guid>("SELECT session_start('dana', 'travel-agent')");
        await conn.ExecAsync("SELECT session_set('note', '\"Dana wants an aisle seat to Oslo\"')");
        await conn.ExecAsync("SELECT session_set('budget', '{\"max\": 400}')");
        Assert.Equal(2, await conn.ScalarAsync<int>("CALL session_commit(kind => 'travel', tags => '{trip}')"));

        var resource = Assert.Single(await conn.QueryAsync(
            "SELECT r.id, r.kind, r.entity, r.process, r.session_id, r.metadata::text AS metadata, jsonb_path_query_array(r.content, '$[*].content')::text AS contents FROM memory.resources r"));
        Assert.Equal("session", resource["kind"]);
        Assert.Equal("dana", resource["entity"]);
        Assert.Equal("travel-agent", resource["process"]);
        Assert.Equal(id, resource["session_id"]);
        Assert.Equal("[\"Dana wants an aisle seat to Oslo\", \"budget: {\\\"max\\\": 400}\"]", resource["contents"]);
        Assert.Contains("\"kind\": \"travel\"", (string)resource["metadata"]!, StringComparison.Ordinal);
        Assert.Equal(1L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.extraction_queue WHERE resource_id = $1", resource["id"]));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.memories")); // written by the extraction worker
        // A second commit promotes only what changed since.
        Assert.Equal(0, await conn.ScalarAsync<int>("CALL session_commit()"));
        await conn.ExecAsync("SELECT session_set('budget', '{\"max\": 500}')");
        Assert.Equal(1, await conn.ScalarAsync<int>("CALL session_commit()"));
        Assert.Equal(2L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.extraction_queue"));
    }

    [Fact]
    public async Task SessionCommit_WithoutExtraction_PromotesItemsToMemories_OnceEach()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_commit");
        await using var conn = await ws.OpenAsync();
        var id = await conn.ScalarAsync<Guid>("SELECT session_start('dana')");
        await conn.ExecAsync("SELECT session_set('note', '\"Dana wants an aisle seat to Oslo\"')");
        await conn.ExecAsync("SELECT session_set('budget', '{\"max\": 400}')");
        await conn.ExecAsync("SELECT session_set('gone', '1', ttl => interval '1 millisecond')");
        await conn.ExecAsync("SELECT pg_sleep(0.02)");
        Assert.Equal(2, await conn.ScalarAsync<int>("CALL session_commit(extraction => false)"));
        var memories = await conn.QueryAsync("SELECT content, entity, session_id, type, kind FROM memory.memories ORDER BY content");
        Assert.Equal(new[] { "Dana wants an aisle seat to Oslo", "budget: {\"max\": 400}" }, memories.Select(m => (string)m["content"]!).ToArray());
        Assert.All(memories, m => Assert.Equal("dana", m["entity"]));
        Assert.All(memories, m => Assert.Equal(id, m["session_id"]));
        Assert.All(memories, m => Assert.Equal("episodic", m["type"]));
        // A second commit promotes only what changed since.
        Assert.Equal(0, await conn.ScalarAsync<int>("CALL session_commit(extraction => false)"));
        await conn.ExecAsync("SELECT session_set('budget', '{\"max\": 500}')");
        Assert.Equal(1, await conn.ScalarAsync<int>("CALL session_commit(extraction => false)"));
        Assert.Equal("committed", await conn.ScalarAsync<string>("SELECT status FROM memory.sessions WHERE id = $1", id));
    }

    [Fact]
    public async Task SessionEnd_CommitsDropsItemsAndClearsSetting()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_end");
        await using var conn = await ws.OpenAsync();
        var id = await conn.ScalarAsync<Guid>("SELECT session_start()");
        await conn.ExecAsync("SELECT session_set('fact', '\"The printer is on floor 2\"')");
        Assert.Equal(1, await conn.ScalarAsync<int>("CALL session_end()"));
        Assert.Equal("ended", await conn.ScalarAsync<string>("SELECT status FROM memory.sessions WHERE id = $1", id));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.session_items"));
        Assert.Equal("", await conn.ScalarAsync<string>("SELECT current_setting('memory.session')"));
        Assert.Equal(1L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.resources r, memory.extraction_queue q WHERE q.resource_id = r.id AND r.content @> '[{\"content\": \"The printer is on floor 2\"}]'"));
        var e = await conn.FailsAsync("SELECT session_set('x', '1', session => $1)", id);
        Assert.Equal("P0001", e.SqlState);
        var actions = (await conn.QueryAsync("SELECT action FROM memory.events WHERE action LIKE 'session%' ORDER BY id")).Select(r => (string)r["action"]!).ToArray();
        Assert.Equal(new[] { "session_start", "session_set", "session_commit", "session_end" }, actions);
    }

    [Fact]
    public async Task Sessions_BadInput_Fails22023()
    {
        var ws = await _db.CreateWorkspaceAsync("ses_bad");
        await using var conn = await ws.OpenAsync();
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_set('k', '1')")).SqlState); // no session yet
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_start(ttl => interval '-1 minute')")).SqlState);
        await conn.ExecAsync("SELECT session_start()");
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_set('', '1')")).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_get('k', session => $1)", Guid.NewGuid())).SqlState);
        await conn.ExecAsync("SET memory.session = 'not-a-uuid'");
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_get('k')")).SqlState);
    }
}
