using MemorySql.IntegrationTests.Support;
using Npgsql;

namespace MemorySql.IntegrationTests;

/// <summary>
/// Npgsql beyond the relay basics of tests/MemorySql.Proxy.Tests: batches of memory calls, auto-prepare, pooled
/// reuse with Npgsql's reset message, and cancel — all against the real proxy with the builtin embeddings.
/// </summary>
public sealed class NpgsqlClientTests : IClassFixture<MemoryProxyFixture>
{
    private const string RecallTop = "SELECT content, similarity, signals FROM recall($1, k => 1)";

    private static readonly string[] Facts =
    [
        "Dana prefers window seats on long flights",
        "The quarterly report is due on the first Monday of April",
        "Backups of the billing database run every night at two",
        "The office cat is called Pixel and sleeps on the printer",
        "Lisbon is the city Dana usually flies from",
        "Standup meetings start at nine thirty sharp",
    ];

    private readonly MemoryProxyFixture _db;

    public NpgsqlClientTests(MemoryProxyFixture db) => _db = db;

    private sealed record Row(string Content, float? Similarity, string[] Signals);

    private static async Task<List<Row>> ReadRowsAsync(NpgsqlDataReader reader)
    {
        var rows = new List<Row>();
        while (await reader.ReadAsync())
            rows.Add(new Row(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetFloat(1), reader.GetFieldValue<string[]>(2)));
        return rows;
    }

    private static async Task<List<Row>> RecallAsync(NpgsqlConnection conn, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await using var reader = await cmd.ExecuteReaderAsync();
        return await ReadRowsAsync(reader);
    }

    private static void AssertVector(List<Row> rows, string top, bool exact = false)
    {
        Assert.NotEmpty(rows);
        Assert.Equal(top, rows[0].Content);
        Assert.All(rows, r =>
        {
            Assert.Contains("vector", r.Signals);
            Assert.NotNull(r.Similarity);
        });
        if (exact) Assert.True(rows[0].Similarity > 0.99f, $"'{top}' recalled itself with similarity {rows[0].Similarity}: not this execution's vector");
    }

    private static async Task RememberAllAsync(NpgsqlConnection conn, IEnumerable<string> texts)
    {
        foreach (var text in texts)
        {
            await using var cmd = new NpgsqlCommand("CALL remember($1)", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = text });
            await cmd.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Npgsql_BatchOfRemembersAndRecall_EmbedsEveryCommandAndAnswersInOrder()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_batch");
        await using var proxied = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace));
        await proxied.OpenAsync();
        await using var batch = new NpgsqlBatch(proxied);
        foreach (var fact in Facts[..4])
            batch.BatchCommands.Add(new NpgsqlBatchCommand("CALL remember($1, kind => $2)") { Parameters = { new() { Value = fact }, new() { Value = "fact" } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT content, similarity, signals FROM recall($1, k => 2)") { Parameters = { new() { Value = "the office cat" } } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT count(*) FROM memory.memories"));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(RecallTop) { Parameters = { new() { Value = Facts[1] } } });

        await using var reader = await batch.ExecuteReaderAsync();
        var ids = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            Assert.True(await reader.ReadAsync());
            ids.Add(reader.GetGuid(0));
            Assert.True(await reader.NextResultAsync());
        }
        AssertVector(await ReadRowsAsync(reader), Facts[3]);
        Assert.True(await reader.NextResultAsync());
        Assert.True(await reader.ReadAsync());
        Assert.Equal(4L, reader.GetInt64(0));
        Assert.True(await reader.NextResultAsync());
        AssertVector(await ReadRowsAsync(reader), Facts[1], exact: true);
        Assert.False(await reader.NextResultAsync());
        Assert.Equal(4, ids.Distinct().Count());
        await reader.CloseAsync();
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts[..4]);
    }

    [Fact]
    public async Task Npgsql_PreparedBatchExecutedAgainWithNewTexts_EmbedsEachExecution()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_prepared_batch");
        await using var conn = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace));
        await conn.OpenAsync();
        await using var batch = new NpgsqlBatch(conn)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("CALL remember($1)") { Parameters = { new NpgsqlParameter<string>() } },
                new NpgsqlBatchCommand(RecallTop) { Parameters = { new NpgsqlParameter<string>() } },
            },
        };
        await batch.PrepareAsync();
        foreach (var fact in Facts)
        {
            // The recall looks for the text the same batch just remembered: each Bind carries its own vector.
            ((NpgsqlParameter<string>)batch.BatchCommands[0].Parameters[0]).TypedValue = fact;
            ((NpgsqlParameter<string>)batch.BatchCommands[1].Parameters[0]).TypedValue = fact;
            await using var reader = await batch.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.True(await reader.NextResultAsync());
            AssertVector(await ReadRowsAsync(reader), fact, exact: true);
        }
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts);
    }

    [Fact]
    public async Task Npgsql_MultiplexingManyConcurrentCommandsOverOneConnection_EachGetsItsOwnVector()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_multiplexing");
        await using var dataSource = NpgsqlDataSource.Create(_db.NpgsqlConnectionString(workspace, "Pooling=true;Multiplexing=true;Maximum Pool Size=1"));
        await Task.WhenAll(Facts.Select(async fact =>
        {
            await using var cmd = dataSource.CreateCommand("CALL remember($1)");
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = fact });
            await cmd.ExecuteNonQueryAsync();
        }));
        // Commands from many callers are written into one connection's pipeline, interleaved.
        var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
        {
            var text = Facts[i % Facts.Length];
            await using var cmd = dataSource.CreateCommand(RecallTop);
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = text });
            await using var reader = await cmd.ExecuteReaderAsync();
            return (text, rows: await ReadRowsAsync(reader));
        }));
        foreach (var (text, rows) in results) AssertVector(rows, text, exact: true);
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts);
    }

    [Fact]
    public async Task Npgsql_AutoPreparedRecallAcrossManyExecutions_EmbedsEachText()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_autoprepare");
        await using var conn = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace, "Pooling=false;Max Auto Prepare=5;Auto Prepare Min Usages=2"));
        await conn.OpenAsync();
        await RememberAllAsync(conn, Facts);
        foreach (var text in Facts.Concat(Facts).Concat(Facts))
            AssertVector(await RecallAsync(conn, RecallTop, text), text, exact: true);

        await using var check = new NpgsqlCommand("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql", conn);
        await using var reader = await check.ExecuteReaderAsync();
        var prepared = new List<string>();
        while (await reader.ReadAsync()) prepared.Add(reader.GetString(0));
        // Both the remember and the recall were auto-prepared, as the proxy rewrote them.
        Assert.Contains(prepared, s => s.Contains("recall($1, k => 1, _embedding => $2::vector", StringComparison.Ordinal));
        Assert.Contains(prepared, s => s.Contains("remember($1, _embedding => $2::vector", StringComparison.Ordinal));
        await reader.CloseAsync();
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts);
    }

    [Fact]
    public async Task Npgsql_PooledConnectionReuse_ResetThenPreparedRecall_EmbedsTheNewText()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_pool");
        await using var dataSource = NpgsqlDataSource.Create(_db.NpgsqlConnectionString(workspace, "Pooling=true;Maximum Pool Size=1"));
        int firstPid;
        await using (var conn = await dataSource.OpenConnectionAsync())
        {
            firstPid = conn.ProcessID;
            await RememberAllAsync(conn, Facts);
            await using var cmd = new NpgsqlCommand(RecallTop, conn);
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Facts[0] });
            await cmd.PrepareAsync();
            await using var reader = await cmd.ExecuteReaderAsync();
            AssertVector(await ReadRowsAsync(reader), Facts[0], exact: true);
            await reader.CloseAsync();
            await using var dirty = new NpgsqlCommand("SET application_name = 'dirty'; CREATE TEMP TABLE scratch (x int)", conn);
            await dirty.ExecuteNonQueryAsync(); // session state the pool's reset must clear
        }
        for (var round = 1; round < Facts.Length; round++)
        {
            // Reopened from the pool: Npgsql prepends its reset query (RESET ALL, DISCARD TEMP, …) to the next
            // messages, which here bind the statement prepared before — now with a different text.
            await using var conn = await dataSource.OpenConnectionAsync();
            Assert.Equal(firstPid, conn.ProcessID);
            await using var cmd = new NpgsqlCommand(RecallTop, conn);
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Facts[round] });
            await cmd.PrepareAsync();
            Assert.True(cmd.IsPrepared);
            await using var reader = await cmd.ExecuteReaderAsync();
            AssertVector(await ReadRowsAsync(reader), Facts[round], exact: true);
            await reader.CloseAsync();
            await using var state = new NpgsqlCommand("SELECT current_setting('application_name'), to_regclass('pg_temp.scratch') IS NULL", conn);
            await using var stateReader = await state.ExecuteReaderAsync();
            Assert.True(await stateReader.ReadAsync());
            Assert.NotEqual("dirty", stateReader.GetString(0));
            Assert.True(stateReader.GetBoolean(1), "the temp table survived the pool's reset");
        }
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts);
    }

    [Fact]
    public async Task Npgsql_CancelDuringALongQuery_Gives57014_ThenRecallWorksOnTheSameConnection()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_cancel");
        await using var conn = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace));
        await conn.OpenAsync();
        await RememberAllAsync(conn, Facts[..3]);
        await using (var sleep = new NpgsqlCommand("SELECT pg_sleep(60)", conn))
        {
            var running = sleep.ExecuteNonQueryAsync();
            // Cancel once the upstream backend is really sleeping (seen from another session).
            await using (var observer = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace)))
            {
                await observer.OpenAsync();
                for (var i = 0; i < 200; i++)
                {
                    await using var active = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE usename = current_user AND query = 'SELECT pg_sleep(60)' AND state = 'active'", observer);
                    if ((long)(await active.ExecuteScalarAsync())! > 0) break;
                    await Task.Delay(50);
                }
            }
            sleep.Cancel();
            var error = await Assert.ThrowsAnyAsync<Exception>(() => running);
            var postgres = error as PostgresException ?? error.InnerException as PostgresException;
            Assert.True(postgres is not null, "expected a PostgresException: " + error);
            Assert.Equal("57014", postgres.SqlState);
        }
        Assert.Equal(System.Data.ConnectionState.Open, conn.State);
        AssertVector(await RecallAsync(conn, "SELECT content, similarity, signals FROM recall($1, k => 2)", "window seats on flights"), Facts[0]);
        await RememberAllAsync(conn, [Facts[3]]);
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts[..4]);
    }

    [Fact]
    public async Task Npgsql_SameRecallDirectlyToPostgres_FallsBackToLexical()
    {
        var workspace = await _db.NewWorkspaceAsync("npgsql_direct");
        await using (var proxied = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace)))
        {
            await proxied.OpenAsync();
            await RememberAllAsync(proxied, Facts[..3]);
            AssertVector(await RecallAsync(proxied, "SELECT content, similarity, signals FROM recall($1, k => 3)", "window seats"), Facts[0]);
        }
        await using var direct = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace, direct: true));
        await direct.OpenAsync();
        var rows = await RecallAsync(direct, "SELECT content, similarity, signals FROM recall($1, k => 3)", "window seats");
        Assert.NotEmpty(rows);
        Assert.All(rows, r =>
        {
            Assert.DoesNotContain("vector", r.Signals);
            Assert.Contains("lexical", r.Signals);
            Assert.Contains(r.Signals, s => s.StartsWith("fallback: no query vector", StringComparison.Ordinal));
            Assert.Null(r.Similarity);
        });
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts[..3]);
    }
}
