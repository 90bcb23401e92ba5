using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Tests.Sql;

/// <summary>Workspace A can neither read nor change workspace B, whatever it sends.</summary>
public sealed class TenancyTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public TenancyTests(TestDatabase db) => _db = db;

    private sealed record Pair(TestRole A, TestRole B, Guid MemoryB, Guid SessionB, Guid ResourceB);

    private async Task<Pair> PairAsync(string hint)
    {
        await _db.ExecuteAsync("SELECT memory.register_model('ten-3', 3), memory.register_model('ten-other', 3)");
        var a = await _db.CreateWorkspaceAsync(hint + "_a");
        var b = await _db.CreateWorkspaceAsync(hint + "_b");
        await a.ExecuteAsync("CALL remember('alpha owns the blue notebook', _embedding => '[1,0,0]'::vector, _model => 'ten-3')");
        Guid memoryB, sessionB;
        await using (var conn = await b.OpenAsync())
        {
            sessionB = await conn.ScalarAsync<Guid>("SELECT session_start('bravo-user')");
            await conn.ExecAsync("SELECT session_set('secret', '\"bravo session secret\"')");
            memoryB = await conn.ScalarAsync<Guid>("CALL remember('bravo secret plan for the blue notebook', entity => 'bravo-user', _embedding => '[1,0,0]'::vector, _model => 'ten-3')");
            var other = await conn.ScalarAsync<Guid>("CALL remember('bravo second note')");
            await conn.ExecAsync("CALL associate($1, $2, 'relates_to')", memoryB, other);
        }
        var resourceB = await b.ScalarAsync<Guid>("CALL ingest('[{\"role\": \"user\", \"content\": \"bravo conversation\"}]')");
        return new Pair(a, b, memoryB, sessionB, resourceB);
    }

    [Fact]
    public async Task WorkspaceA_CannotReadB_ThroughTablesViewsOrRoutines()
    {
        var p = await PairAsync("ten_read");
        await using var conn = await p.A.OpenAsync();
        foreach (var table in new[] { "memories", "embeddings", "embedding_queue", "associations", "sessions", "session_items",
                                      "resources", "extraction_queue", "events", "query_embeddings", "lexical_postings",
                                      "lexical_terms", "lexical_stats", "memories_current", "embedding_status", "extraction_status" })
        {
            var leaked = await conn.ScalarAsync<long>($"SELECT count(*) FROM memory.{table} t WHERE t::text ILIKE '%bravo%' OR t::text LIKE '%{p.B.Name}%'");
            Assert.True(leaked == 0, $"memory.{table} shows workspace B");
        }
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE workspace <> current_user"));
        var lexical = await conn.QueryAsync("SELECT content FROM recall('bravo secret plan notebook', k => 50, entity => '*', include_archived => true)");
        Assert.Equal(new[] { "alpha owns the blue notebook" }, lexical.Select(r => (string)r["content"]!).ToArray());
        var vector = await conn.QueryAsync("SELECT content FROM recall('notebook', k => 50, entity => '*', _embedding => '[1,0,0]'::vector, _model => 'ten-3')");
        Assert.All(vector, r => Assert.DoesNotContain("bravo", (string)r["content"]!));
        Assert.Empty(await conn.QueryAsync("SELECT * FROM briefing(entity => '*', k => 50) WHERE content ILIKE '%bravo%'"));
        Assert.Equal("22023", (await conn.FailsAsync("SELECT * FROM history($1)", p.MemoryB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("SELECT * FROM traverse($1)", p.MemoryB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_get('secret', session => $1)", p.SessionB)).SqlState);
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT coalesce(sum(value), 0)::bigint FROM memory.stats WHERE section = 'sessions'"));
        var workspaces = (await conn.QueryAsync("SELECT name FROM memory.workspaces")).Select(r => r["name"]!.ToString()).ToArray();
        Assert.Equal(new[] { p.A.Name }, workspaces);
    }

    [Fact]
    public async Task WorkspaceA_CannotChangeB_ThroughRoutinesOrPlainDml()
    {
        var p = await PairAsync("ten_write");
        await using var conn = await p.A.OpenAsync();
        var own = await conn.ScalarAsync<Guid>("SELECT id FROM memory.memories");
        Assert.Equal("22023", (await conn.FailsAsync("CALL forget($1)", p.MemoryB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("CALL forget($1, hard => true)", p.MemoryB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("CALL revise($1, 'hijacked')", p.MemoryB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("CALL associate($1, $2, 'relates_to')", own, p.MemoryB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_set('secret', '\"overwritten\"', session => $1)", p.SessionB)).SqlState);
        Assert.Equal("22023", (await conn.FailsAsync("CALL remember('into their session', session => $1)", p.SessionB)).SqlState);
        await conn.ExecAsync("CALL forget_subject('bravo-user')"); // only ever touches A's own rows

        Assert.Equal(0, await Affected(conn, "UPDATE memory.memories SET content = 'hijacked' WHERE id = $1", p.MemoryB));
        Assert.Equal(0, await Affected(conn, "DELETE FROM memory.memories WHERE id = $1", p.MemoryB));
        Assert.Equal(0, await Affected(conn, "DELETE FROM memory.embeddings WHERE memory_id = $1", p.MemoryB));
        Assert.Equal(0, await Affected(conn, "UPDATE memory.sessions SET status = 'ended' WHERE id = $1", p.SessionB));
        Assert.Equal(0, await Affected(conn, "DELETE FROM memory.resources WHERE id = $1", p.ResourceB));
        Assert.Equal(0, await Affected(conn, "DELETE FROM memory.associations WHERE source_id = $1", p.MemoryB));
        // Moving an own row into B, or inserting rows that claim to be B's, is refused by the policies.
        Assert.Equal("42501", (await conn.FailsAsync("UPDATE memory.memories SET workspace = $1", p.B.Name)).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("INSERT INTO memory.memories (workspace, content) VALUES ($1, 'planted')", p.B.Name)).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("INSERT INTO memory.events (workspace, action) VALUES ($1, 'forged')", p.B.Name)).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("INSERT INTO memory.session_items (session_id, key, workspace, value) VALUES ($1, 'k', $2, '1')", p.SessionB, p.B.Name)).SqlState);
        // A row in A's workspace cannot point at B's memory either (composite foreign keys).
        Assert.Equal("23503", (await conn.FailsAsync("INSERT INTO memory.embeddings (memory_id, model, workspace, embedding) VALUES ($1, 'ten-other', current_user, '[1,1,1]')", p.MemoryB)).SqlState);
        Assert.Equal("23503", (await conn.FailsAsync("INSERT INTO memory.associations (source_id, target_id, relation, workspace) VALUES ($1, $2, 'relates_to', current_user)", own, p.MemoryB)).SqlState);
        // Index and statistics are maintained by the database, never written by a workspace.
        Assert.Equal("42501", (await conn.FailsAsync("DELETE FROM memory.lexical_postings")).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("UPDATE memory.policies SET retention = '1 day'")).SqlState);

        await using var b = await p.B.OpenAsync();
        var mine = Assert.Single(await b.QueryAsync("SELECT content, status FROM memory.memories WHERE id = $1", p.MemoryB));
        Assert.Equal("bravo secret plan for the blue notebook", mine["content"]);
        Assert.Equal("active", mine["status"]);
        Assert.Equal(1L, await b.ScalarAsync<long>("SELECT count(*) FROM memory.embeddings"));
        Assert.Equal("\"bravo session secret\"", await b.ScalarAsync<string>("SELECT session_get('secret', session => $1)::text", p.SessionB));
        Assert.Equal(1L, await b.ScalarAsync<long>("SELECT count(*) FROM memory.associations"));
        Assert.Equal(1L, await b.ScalarAsync<long>("SELECT count(*) FROM memory.resources"));
    }

    [Fact]
    public async Task WorkspaceA_CannotWidenItsView_WithAnySetting()
    {
        var p = await PairAsync("ten_set");
        await using var conn = await p.A.OpenAsync();
        await conn.ExecAsync("SET memory.entity = 'bravo-user'");
        await conn.ExecAsync($"SET memory.session = '{p.SessionB}'");
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE workspace <> current_user"));
        Assert.Empty(await conn.QueryAsync("SELECT * FROM recall('bravo secret plan')"));
        Assert.Equal("22023", (await conn.FailsAsync("SELECT session_get('secret')")).SqlState);
        await conn.ExecAsync("RESET memory.session; RESET memory.entity");

        Assert.Equal("42501", (await conn.FailsAsync($"SET ROLE \"{p.B.Name}\"")).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync($"SET SESSION AUTHORIZATION \"{p.B.Name}\"")).SqlState);
        // The role that carries the workspace rights is no workspace itself: as it, nothing is visible or writable.
        await conn.ExecAsync("SET ROLE memory_user");
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        Assert.Equal("42501", (await conn.FailsAsync("CALL remember('a note for everyone')")).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("INSERT INTO memory.memories (workspace, content) VALUES ('memory_user', 'x')")).SqlState);
        await conn.ExecAsync("RESET ROLE");
        await conn.ExecAsync("SET row_security = off");
        Assert.Equal("42501", (await conn.FailsAsync("SELECT count(*) FROM memory.memories")).SqlState);
        await conn.ExecAsync("RESET row_security");

        // A look-alike of current_workspace() earlier on the search_path changes nothing: every routine and
        // policy names memory.current_workspace() in full.
        await conn.ExecAsync($"CREATE FUNCTION pg_temp.current_workspace() RETURNS name LANGUAGE sql AS $$ SELECT '{p.B.Name}'::name $$");
        await conn.ExecAsync("SET search_path = pg_temp, memory, public");
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memories WHERE workspace <> current_user"));
        Assert.Empty(await conn.QueryAsync("SELECT * FROM recall('bravo secret plan')"));
        // The same in the workspace's own schema, first on the default search_path: look-alikes of the
        // workspace function and of the memory tables change nothing either.
        await conn.ExecAsync("RESET search_path");
        await conn.ExecAsync($"CREATE FUNCTION current_workspace() RETURNS name LANGUAGE sql AS $$ SELECT '{p.B.Name}'::name $$");
        await conn.ExecAsync("CREATE TABLE memories (LIKE memory.memories)");
        await conn.ExecAsync("CREATE TABLE lexical_postings (LIKE memory.lexical_postings)");
        Assert.Equal(p.A.Name, await conn.ScalarAsync<string>("SELECT n.nspname::text FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace WHERE f.proname = 'current_workspace' AND n.nspname <> 'memory'"));
        var own = await conn.QueryAsync("SELECT content FROM recall('bravo secret plan blue notebook', k => 50, entity => '*', include_archived => true)");
        Assert.Equal(new[] { "alpha owns the blue notebook" }, own.Select(r => (string)r["content"]!).ToArray());
        Assert.Empty(await conn.QueryAsync("SELECT * FROM briefing(entity => '*', k => 50) WHERE content ILIKE '%bravo%'"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.memories_current WHERE workspace <> current_user"));

        // Administration and event redaction are not for workspaces.
        Assert.Equal("42501", (await conn.FailsAsync("SELECT memory.register_model('evil', 3)")).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("SELECT memory.create_workspace('evil_ws', 'x')")).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("SELECT memory.drop_workspace($1)", p.B.Name)).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("SELECT memory.redact_events($1, ARRAY[$2]::uuid[])", p.B.Name, p.MemoryB)).SqlState);
        Assert.Equal("42501", (await conn.FailsAsync("ALTER TABLE memory.memories DISABLE ROW LEVEL SECURITY")).SqlState);
    }

    [Fact]
    public async Task DropWorkspace_ThenTheSameNameAgain_StartsWithCleanStatistics_AndRecallWorks()
    {
        var ws = await _db.CreateWorkspaceAsync("redo", login: false);
        await _db.ExecuteAsync("SELECT memory.create_workspace($1, NULL)", ws.Name + "_x");
        await _db.ExecuteAsync("SELECT memory.drop_workspace($1)", ws.Name + "_x");
        // Memories written as the workspace (admin acting through SET ROLE in one transaction), then the workspace dropped.
        await _db.ExecuteAsync($"SET ROLE \"{ws.Name}\"; CALL remember('the cat sleeps on the red sofa'); CALL remember('the dog sleeps outside'); RESET ROLE");
        await _db.ExecuteAsync("SELECT memory.drop_workspace($1, drop_role => false)", ws.Name);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_stats WHERE workspace = $1", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_terms WHERE workspace = $1", ws.Name));

        await _db.ExecuteAsync("SELECT memory.create_workspace($1, NULL)", ws.Name);
        await _db.ExecuteAsync($"SET ROLE \"{ws.Name}\"; CALL remember('the cat sleeps on the blue chair'); RESET ROLE");

        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT sum(docs)::bigint FROM memory.lexical_stats WHERE workspace = $1", ws.Name));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT sum(df)::bigint FROM memory.lexical_terms WHERE workspace = $1 AND term = 'cat'", ws.Name));
        Assert.Equal("the cat sleeps on the blue chair",
            await _db.ScalarAsync<string>($"SET ROLE \"{ws.Name}\"; SELECT content FROM recall('cat', k => 1); RESET ROLE"));
    }

    [Fact]
    public async Task CreateWorkspace_GivesANewRoleASchemaOfItsOwn_WhereItsTablesGoAndJoinRecall_UnseenByOthers()
    {
        var a = await _db.CreateWorkspaceAsync("own_a");
        var b = await _db.CreateWorkspaceAsync("own_b");
        Assert.Equal(a.Name, await _db.ScalarAsync<string>("SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1", a.Name));
        await using (var conn = await a.OpenAsync())
        {
            // Unqualified, as an application or pgbench -i writes it: PostgreSQL 15 grants no CREATE on public.
            await conn.ExecAsync("CREATE TABLE trips (traveller text, destination text)");
            await conn.ExecAsync("INSERT INTO trips VALUES ('dana', 'Lisbon'), ('sam', 'Oslo')");
            await conn.ExecAsync("CALL remember('Dana prefers window seats', entity => 'dana')");
            Assert.Equal(a.Name, await conn.ScalarAsync<string>("SELECT schemaname::text FROM pg_tables WHERE tablename = 'trips'"));
            var joined = await conn.QueryAsync(
                "SELECT t.destination, r.content FROM trips t JOIN recall('window seats', k => 5, entity => '*') r ON r.entity = t.traveller");
            var row = Assert.Single(joined);
            Assert.Equal("Lisbon", row["destination"]);
            Assert.Equal("Dana prefers window seats", row["content"]);
        }
        await using (var other = await b.OpenAsync())
        {
            Assert.Equal("42501", (await other.FailsAsync($"SELECT * FROM \"{a.Name}\".trips")).SqlState);
            Assert.Equal("42P01", (await other.FailsAsync("SELECT * FROM trips")).SqlState);
        }
    }

    [Fact]
    public async Task CreateWorkspace_AdoptingAnExistingRole_AddsNoSchema_UntilEnsureWorkspaceSchemaIsCalled()
    {
        var role = await _db.CreateLoginRoleAsync("own_adopted");
        await _db.ExecuteAsync("SELECT memory.create_workspace($1)", role.Name);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname = $1", role.Name));
        Assert.True(await _db.ScalarAsync<bool>("SELECT memory.ensure_workspace_schema($1)", role.Name));
        Assert.False(await _db.ScalarAsync<bool>("SELECT memory.ensure_workspace_schema($1)", role.Name));
        Assert.Equal(role.Name, await _db.ScalarAsync<string>("SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1", role.Name));
        Assert.Equal("22023", (await _db.Admin.FailsAsync("SELECT memory.ensure_workspace_schema('own_no_such_workspace')")).SqlState);
        await using var conn = await role.OpenAsync();
        Assert.Equal("42501", (await conn.FailsAsync($"SELECT memory.ensure_workspace_schema('{role.Name}')")).SqlState);
    }

    [Fact]
    public async Task EnsureWorkspaceSchema_ByAnAdminThatCannotActAsTheRole_MakesASchemaItLetsTheWorkspaceUse_OrSaysWhyNot()
    {
        var ws = await _db.CreateLoginRoleAsync("own_fallback");
        await _db.ExecuteAsync("SELECT memory.create_workspace($1)", ws.Name); // adopted: no schema yet
        // An administrator that is neither a superuser nor a member of the workspace's role, as on managed PostgreSQL.
        var limited = await _db.CreateLoginRoleAsync("own_limited_admin");
        await _db.ExecuteAsync($"""
            ALTER ROLE "{limited.Name}" BYPASSRLS;
            GRANT USAGE ON SCHEMA memory TO "{limited.Name}";
            GRANT EXECUTE ON FUNCTION memory.ensure_workspace_schema(name) TO "{limited.Name}";
            GRANT SELECT ON memory.workspaces TO "{limited.Name}";
            GRANT INSERT ON memory.events TO "{limited.Name}";
            """);
        await using var conn = await limited.OpenAsync();
        var notices = new List<PostgresNotice>();
        conn.Notice += (_, e) => notices.Add(e.Notice);

        // Without CREATE on the database: no schema, and a NOTICE with the statement to run instead.
        Assert.False(await conn.ScalarAsync<bool>("SELECT memory.ensure_workspace_schema($1)", ws.Name));
        var notice = Assert.Single(notices);
        Assert.Contains("may not create schemas", notice.MessageText, StringComparison.Ordinal);
        Assert.Contains($"CREATE SCHEMA {ws.Name} AUTHORIZATION {ws.Name}", notice.Hint, StringComparison.Ordinal);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname = $1", ws.Name));

        // With CREATE on the database but no right to act as the role: a schema of the admin's, the workspace let in.
        await _db.ExecuteAsync($"GRANT CREATE ON DATABASE \"{_db.Name}\" TO \"{limited.Name}\"");
        Assert.True(await conn.ScalarAsync<bool>("SELECT memory.ensure_workspace_schema($1)", ws.Name));
        Assert.Equal(limited.Name, await _db.ScalarAsync<string>("SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1", ws.Name));
        await ws.ExecuteAsync("CREATE TABLE notes (id int)");
        Assert.Equal(ws.Name, await ws.ScalarAsync<string>("SELECT schemaname::text FROM pg_tables WHERE tablename = 'notes'"));

        // drop_workspace treats it as the workspace's own schema: refused while the table is there, dropped after.
        Assert.Equal("2BP01", (await _db.Admin.FailsAsync("SELECT memory.drop_workspace($1)", ws.Name)).SqlState);
        await ws.ExecuteAsync("DROP TABLE notes");
        await _db.ExecuteAsync("SELECT memory.drop_workspace($1)", ws.Name);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname = $1", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_roles WHERE rolname = $1", ws.Name));
    }

    [Fact]
    public async Task DropWorkspace_WhileItsRoleOwnsTables_RefusesWith2BP01_DeletingNothing_ThenDropsRoleAndSchema()
    {
        var ws = await _db.CreateWorkspaceAsync("own_drop");
        await ws.ExecuteAsync("CREATE TABLE orders (id int)");
        await ws.ExecuteAsync("CALL remember('kept while the drop is refused')");
        var refused = await _db.Admin.FailsAsync("SELECT memory.drop_workspace($1)", ws.Name);
        Assert.Equal("2BP01", refused.SqlState);
        Assert.Contains("orders", refused.MessageText, StringComparison.Ordinal);
        Assert.Contains("drop_role => false", refused.Hint, StringComparison.Ordinal);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.workspaces WHERE name = $1", ws.Name));

        await ws.ExecuteAsync("DROP TABLE orders");
        await _db.ExecuteAsync("SELECT memory.drop_workspace($1)", ws.Name);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname = $1", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_roles WHERE rolname = $1", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE workspace = $1", ws.Name));
    }

    [Fact]
    public async Task DropWorkspace_OfAnAdoptedRoleThatOwnsASchema_RefusesWith2BP01_NamingIt()
    {
        var role = await _db.CreateLoginRoleAsync("own_schema_owner");
        await _db.ExecuteAsync($"CREATE SCHEMA \"{role.Name}_data\" AUTHORIZATION \"{role.Name}\"");
        await _db.ExecuteAsync("SELECT memory.create_workspace($1)", role.Name);
        var refused = await _db.Admin.FailsAsync("SELECT memory.drop_workspace($1)", role.Name);
        Assert.Equal("2BP01", refused.SqlState);
        Assert.Contains($"schema {role.Name}_data", refused.MessageText, StringComparison.Ordinal);
        await _db.ExecuteAsync("SELECT memory.drop_workspace($1, drop_role => false)", role.Name);
        Assert.Equal(1L, await _db.ScalarAsync<long>("SELECT count(*) FROM pg_namespace WHERE nspname = $1", role.Name + "_data"));
    }

    [Fact]
    public async Task GroupWorkspace_MembersShareIt_AndNobodyElseSeesIt()
    {
        var group = await _db.CreateWorkspaceAsync("ten_group", login: false);
        var alice = await _db.CreateLoginRoleAsync("ten_alice");
        var bob = await _db.CreateLoginRoleAsync("ten_bob");
        var outsider = await _db.CreateWorkspaceAsync("ten_outsider");
        await _db.ExecuteAsync("SELECT memory.grant_workspace($1, $2), memory.grant_workspace($1, $3)", group.Name, alice.Name, bob.Name);
        var id = await alice.ScalarAsync<Guid>("CALL remember('team fact: deploys happen on Tuesdays')");
        Assert.Equal(group.Name, await alice.ScalarAsync<string>("SELECT workspace::text FROM memory.memories WHERE id = $1", id));
        Assert.Single(await bob.DataSource.QueryAsync("SELECT * FROM recall('deploys Tuesdays')"));
        Assert.Empty(await outsider.DataSource.QueryAsync("SELECT * FROM recall('deploys Tuesdays')"));
        // Who did it is still recorded per login.
        Assert.Equal(alice.Name, await bob.ScalarAsync<string>("SELECT actor::text FROM memory.events WHERE memory_id = $1 AND action = 'remember'", id));
    }

    [Fact]
    public async Task RoleInTwoWorkspaces_MustChooseWithSetRole()
    {
        var one = await _db.CreateWorkspaceAsync("ten_two_1", login: false);
        var two = await _db.CreateWorkspaceAsync("ten_two_2", login: false);
        var carol = await _db.CreateLoginRoleAsync("ten_carol");
        await _db.ExecuteAsync("SELECT memory.grant_workspace($1, $3), memory.grant_workspace($2, $3)", one.Name, two.Name, carol.Name);
        await using var conn = await carol.OpenAsync();
        var e = await conn.FailsAsync("CALL remember('which workspace?')");
        Assert.Equal("P0001", e.SqlState);
        Assert.Contains("several workspaces", e.MessageText);
        await conn.ExecAsync($"SET ROLE \"{two.Name}\"");
        await conn.ExecAsync("CALL remember('in workspace two')");
        Assert.Equal(two.Name, await conn.ScalarAsync<string>("SELECT workspace::text FROM memory.memories"));
    }

    [Fact]
    public async Task CreateWorkspace_RefusesSuperusersAndBadNames()
    {
        Assert.Equal("22023", (await _db.Admin.FailsAsync("SELECT memory.create_workspace('Bad Name', 'x')")).SqlState);
        Assert.Equal("22023", (await _db.Admin.FailsAsync("SELECT memory.create_workspace('memory_user', 'x')")).SqlState);
        Assert.Equal("22023", (await _db.Admin.FailsAsync("SELECT memory.create_workspace(current_user::text, NULL)")).SqlState);
        var ws = await _db.CreateWorkspaceAsync("ten_dup");
        Assert.Equal("42710", (await _db.Admin.FailsAsync("SELECT memory.create_workspace($1, 'x')", ws.Name)).SqlState);
    }

    private static async Task<int> Affected(NpgsqlConnection conn, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        return await cmd.ExecuteNonQueryAsync();
    }
}
