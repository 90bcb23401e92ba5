using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class AuditTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public AuditTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Events_AreAppendOnly_ForWorkspaces()
    {
        var ws = await _db.CreateWorkspaceAsync("aud_immutable");
        await ws.ExecuteAsync("CALL remember('audited')");
        Assert.Equal("42501", (await ws.DataSource.FailsAsync("UPDATE memory.events SET action = 'nothing happened'")).SqlState);
        Assert.Equal("42501", (await ws.DataSource.FailsAsync("DELETE FROM memory.events")).SqlState);
        Assert.Equal("42501", (await ws.DataSource.FailsAsync("TRUNCATE memory.events")).SqlState);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'remember'"));
    }

    [Fact]
    public async Task Events_AreStampedByTheDatabase_NotTheClient()
    {
        var ws = await _db.CreateWorkspaceAsync("aud_stamp");
        await ws.ExecuteAsync("INSERT INTO memory.events (action, actor, role, at) VALUES ('note', 'someone_else', 'someone_else', '2000-01-01')");
        var e = Assert.Single(await ws.DataSource.QueryAsync("SELECT actor::text, role::text, at > now() - interval '1 minute' AS fresh FROM memory.events WHERE action = 'note'"));
        Assert.Equal(ws.Name, e["actor"]);
        Assert.Equal(ws.Name, e["role"]);
        Assert.True((bool)e["fresh"]!);
    }

    [Fact]
    public async Task EveryChange_WritesAnEvent_WithoutContent()
    {
        var ws = await _db.CreateWorkspaceAsync("aud_all");
        await using var conn = await ws.OpenAsync();
        var a = await conn.ScalarAsync<Guid>("CALL remember('confidential alpha')");
        await conn.ExecAsync("CALL remember('confidential alpha')");
        var b = await conn.ScalarAsync<Guid>("CALL revise($1, 'confidential beta')", a);
        var c = await conn.ScalarAsync<Guid>("CALL remember('confidential gamma')");
        await conn.ExecAsync("CALL associate($1, $2, 'supports')", b, c);
        await conn.ExecAsync("CALL forget($1)", c);
        await conn.ExecAsync("SELECT session_start()");
        await conn.ExecAsync("SELECT session_set('k', '\"v\"')");
        await conn.ExecAsync("CALL session_end(commit => false)");
        await conn.ExecAsync("CALL ingest('[{\"content\": \"confidential delta\"}]')");
        var actions = (await conn.QueryAsync("SELECT DISTINCT action FROM memory.events")).Select(r => (string)r["action"]!).ToHashSet();
        foreach (var expected in new[] { "remember", "bump", "revise", "associate", "forget", "session_start", "session_set", "session_end", "ingest" })
            Assert.Contains(expected, actions);
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.events e WHERE e::text ILIKE '%confidential%'"));
    }
}
