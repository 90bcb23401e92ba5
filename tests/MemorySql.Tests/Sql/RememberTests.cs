using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class RememberTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public RememberTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Remember_StoresMemoryWithOptions_AndReturnsId()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_opts");
        var id = await ws.ScalarAsync<Guid>(
            "CALL remember('Dana prefers window seats', type => 'semantic', kind => 'preference', importance => 0.8, " +
            "tags => '{travel, seats, travel}', metadata => '{\"source\": \"chat\"}', entity => 'dana', process => 'agent-1')");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM memory.memories WHERE id = $1", id);
        var m = Assert.Single(rows);
        Assert.Equal("Dana prefers window seats", m["content"]);
        Assert.Equal("preference", m["kind"]);
        Assert.Equal(0.8f, (float)m["importance"]!);
        Assert.Equal(new[] { "seats", "travel" }, (string[])m["tags"]!);
        Assert.Equal("dana", m["entity"]);
        Assert.Equal("agent-1", m["process"]);
        Assert.Equal(ws.Name, m["workspace"]);
        Assert.Equal("active", m["status"]);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE memory_id = $1 AND action = 'remember'", id));
    }

    [Fact]
    public async Task Remember_ExactDuplicate_ReturnsExistingIdAndBumpsIt()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_dup");
        var first = await ws.ScalarAsync<Guid>("CALL remember('The office is on floor 3', importance => 0.4, tags => '{office}')");
        var second = await ws.ScalarAsync<Guid>("CALL remember('  The office is   on floor 3 ', importance => 0.7, tags => '{building}')");
        Assert.Equal(first, second);
        var m = Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.memories"));
        Assert.Equal(1, m["access_count"]);
        Assert.Equal(0.7f, (float)m["importance"]!);
        Assert.Equal(new[] { "building", "office" }, (string[])m["tags"]!);
        Assert.NotNull(m["last_accessed_at"]);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'bump'"));
    }

    [Fact]
    public async Task Remember_SameContentForAnotherEntity_IsASeparateMemory()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_entity");
        var a = await ws.ScalarAsync<Guid>("CALL remember('likes tea', entity => 'ann')");
        var b = await ws.ScalarAsync<Guid>("CALL remember('likes tea', entity => 'bob')");
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task Remember_WithoutEmbedding_QueuesForEveryModel()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rem-q-a', 3), memory.register_model('rem-q-b', 4)");
        var ws = await _db.CreateWorkspaceAsync("rem_queue");
        var id = await ws.ScalarAsync<Guid>("CALL remember('queued for embedding')");
        var models = await ws.DataSource.QueryAsync("SELECT model FROM memory.embedding_queue WHERE memory_id = $1 ORDER BY model", id);
        Assert.Contains(models, r => (string)r["model"]! == "rem-q-a");
        Assert.Contains(models, r => (string)r["model"]! == "rem-q-b");
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.embeddings WHERE memory_id = $1", id));
    }

    [Fact]
    public async Task Remember_WithoutEmbedding_NotifiesTheEmbedWorker()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rem-notify', 3)");
        var ws = await _db.CreateWorkspaceAsync("rem_notify");
        await using var listener = await ws.OpenAsync();
        var payloads = new List<string>();
        listener.Notification += (_, e) => { lock (payloads) payloads.Add(e.Channel + ":" + e.Payload); };
        await listener.ExecAsync("LISTEN memory_embed");
        await ws.ExecuteAsync("CALL remember('wake the worker')");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        bool Seen() { lock (payloads) return payloads.Contains("memory_embed:rem-notify"); }
        while (!Seen() && DateTime.UtcNow < deadline) await listener.WaitAsync(TimeSpan.FromSeconds(1));
        Assert.True(Seen());
    }

    [Fact]
    public async Task Remember_WithEmbedding_StoresItForThatModelAndQueuesOthers()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rem-e3', 3), memory.register_model('rem-e4', 4)");
        var ws = await _db.CreateWorkspaceAsync("rem_embed");
        var id = await ws.ScalarAsync<Guid>("CALL remember('has a vector', _embedding => '[0.1,0.2,0.3]'::vector, _model => 'rem-e3')");
        Assert.Equal("[0.1,0.2,0.3]", await ws.ScalarAsync<string>("SELECT embedding::text FROM memory.embeddings WHERE memory_id = $1 AND model = 'rem-e3'", id));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE memory_id = $1 AND model = 'rem-e3'", id));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE memory_id = $1 AND model = 'rem-e4'", id));
    }

    [Fact]
    public async Task Remember_ScopeDefaults_ComeFromConnectionSettings()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_scope");
        await using var conn = await ws.OpenAsync();
        await conn.ExecAsync("SET memory.entity = 'user-42'; SET memory.process = 'planner'");
        var id = await conn.ScalarAsync<Guid>("CALL remember('scoped by settings')");
        var m = Assert.Single(await conn.QueryAsync("SELECT entity, process FROM memory.memories WHERE id = $1", id));
        Assert.Equal("user-42", m["entity"]);
        Assert.Equal("planner", m["process"]);
    }

    [Fact]
    public async Task Remember_ClientChosenId_IsUsed()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_id");
        var chosen = Guid.NewGuid();
        Assert.Equal(chosen, await ws.ScalarAsync<Guid>("CALL remember('with my id', id => $1)", chosen));
    }

    [Fact]
    public async Task Store_FunctionForm_RemembersManyRowsInOneStatement()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_store");
        var inserted = await ws.ScalarAsync<long>(
            "SELECT count(*) FILTER (WHERE s.inserted) FROM generate_series(1, 25) g, memory.store('bulk fact ' || g) s");
        Assert.Equal(25L, inserted);
        Assert.Equal(25L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories_current"));
    }

    [Theory]
    [InlineData("CALL remember('')", "content")]
    [InlineData("CALL remember('   ')", "content")]
    [InlineData("CALL remember(NULL)", "content")]
    [InlineData("CALL remember('x', type => 'feelings')", "type")]
    [InlineData("CALL remember('x', kind => '')", "kind")]
    [InlineData("CALL remember('x', importance => 1.5)", "importance")]
    [InlineData("CALL remember('x', importance => -0.1)", "importance")]
    [InlineData("CALL remember('x', importance => 'NaN')", "importance")]
    [InlineData("CALL remember('x', tags => '{ok,\"\"}')", "tags")]
    [InlineData("CALL remember('x', metadata => '[1,2]')", "metadata")]
    [InlineData("CALL remember('x', expires_at => now() - interval '1 day')", "expires_at")]
    [InlineData("CALL remember('x', session => '00000000-0000-0000-0000-000000000001')", "session")]
    [InlineData("CALL remember('x', layer => 'middle')", "layer")]
    [InlineData("CALL remember('x', _embedding => '[1,2,3]'::vector, _model => 'no-such-model')", "_model")]
    public async Task Remember_BadInput_Fails22023NamingTheArgument_AndWritesNothing(string call, string argument)
    {
        var ws = await _db.CreateWorkspaceAsync("rem_bad_" + Math.Abs(call.GetHashCode() % 100000));
        await _db.ExecuteAsync("SELECT memory.register_model('rem-bad', 3)");
        var e = await ws.DataSource.FailsAsync(call);
        Assert.Equal("22023", e.SqlState);
        Assert.Contains(argument, e.MessageText);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue"));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action NOT IN ('create_workspace', 'create_schema')"));
    }

    [Fact]
    public async Task Remember_WrongDimension_Fails22023AndWritesNothing()
    {
        await _db.ExecuteAsync("SELECT memory.register_model('rem-dim', 3)");
        var ws = await _db.CreateWorkspaceAsync("rem_dim");
        var e = await ws.DataSource.FailsAsync("CALL remember('x', _embedding => '[1,2]'::vector, _model => 'rem-dim')");
        Assert.Equal("22023", e.SqlState);
        Assert.Contains("dimensions", e.MessageText);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_postings"));
    }

    [Fact]
    public async Task Remember_UnknownNamedArgument_Fails42883()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_unknown");
        var e = await ws.DataSource.FailsAsync("CALL remember('x', colour => 'blue')");
        Assert.Equal("42883", e.SqlState);
    }

    [Fact]
    public async Task Remember_InsideRolledBackTransaction_LeavesNothing()
    {
        var ws = await _db.CreateWorkspaceAsync("rem_rollback");
        await using var conn = await ws.OpenAsync();
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await conn.ExecAsync("CALL remember('only in the transaction')");
            await tx.RollbackAsync();
        }
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.memories"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_postings"));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT coalesce(sum(docs), 0)::bigint FROM memory.lexical_stats"));
    }
}
