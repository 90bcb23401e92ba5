using MemorySql.Proxy.Tests.Support;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// Memory calls get their embedding from the proxy (DESIGN §4): literal texts inlined in both protocols,
/// parameter texts as an injected $k::vector filled at every Bind, hidden from ParameterDescription; a failing
/// provider gives 38000 with the transaction state PostgreSQL itself sets, a cancel during embedding 57014.
/// </summary>
[Collection(nameof(RewriteTests))]
public sealed class RewriteTests : IClassFixture<RewriteProxyFixture>
{
    private readonly RewriteProxyFixture _db;

    public RewriteTests(RewriteProxyFixture db)
    {
        _db = db;
        _db.Embeddings.Failure = null;
        _db.Embeddings.Delay = TimeSpan.Zero;
    }

    private static string Expected(string text, int k = 5) => $"test-v1|{TestEmbeddings.VectorText(text)}|{text}|{k}";

    [Fact]
    public async Task SimpleQuery_LiteralText_GetsItsEmbeddingInlined()
    {
        await using var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
        await _db.EnsureRoleAsync(RawProtocolTests.User, RawProtocolTests.Password, RoleAuth.Cleartext);
        await c.LoginAsync(RawProtocolTests.User, RawProtocolTests.Password, _db.Name, 0, ("options", "-c search_path=probe,public"));
        await c.SendAsync(Msg.Query("SELECT recall('banana bread', k => 3); SELECT 'recall(''not a call'')'"));
        var rows = (await c.ReadUntilReadyAsync()).Where(m => m.Type == 'D').Select(m => m.Text[6..]).ToList();
        Assert.Equal([Expected("banana bread", 3), "recall('not a call')"], rows);
    }

    [Fact]
    public async Task ExtendedProtocol_ParameterText_IsEmbeddedAtEveryBind()
    {
        await using var conn = await _db.OpenProbeAsync();
        await using var cmd = new NpgsqlCommand("SELECT recall($1, k => 2)", conn);
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text });
        await cmd.PrepareAsync();
        foreach (var text in new[] { "alpha", "banana", "cardamom" })
        {
            cmd.Parameters[0].Value = text;
            Assert.Equal(Expected(text, 2), await cmd.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task ExtendedProtocol_UnpreparedParameterAndLiteral_Work()
    {
        await using var conn = await _db.OpenProbeAsync();
        await using (var cmd = new NpgsqlCommand("SELECT recall(@q)", conn))
        {
            cmd.Parameters.AddWithValue("q", "unprepared text");
            Assert.Equal(Expected("unprepared text"), await cmd.ExecuteScalarAsync());
        }
        await using (var cmd = new NpgsqlCommand("SELECT recall('a literal in a Parse')", conn))
            Assert.Equal(Expected("a literal in a Parse"), await cmd.ExecuteScalarAsync());
        await using (var cmd = new NpgsqlCommand("SELECT recall(NULL::text)", conn))
            Assert.Equal(DBNull.Value, await cmd.ExecuteScalarAsync() ?? DBNull.Value);
    }

    [Fact]
    public async Task DescribeStatement_ShowsOnlyTheClientsParameters()
    {
        await using var c = await LoginRawAsync();
        await c.SendAsync(Msg.Concat(Msg.Parse("SELECT recall($1, k => $2)", "s1"), Msg.Describe('S', "s1"), Msg.Sync()));
        var answer = await c.ReadUntilReadyAsync();
        var description = answer.Single(m => m.Type == 't');
        Assert.Equal(2, System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(description.Payload));
        Assert.Equal(2 + 4 * 2, description.Payload.Length);
    }

    [Fact]
    public async Task BindFailure_RawStream_HasExactlyTheClientsResponses()
    {
        await using var c = await LoginRawAsync();
        _db.Embeddings.Failure = new InvalidOperationException("down");
        await c.SendAsync(Msg.Concat(Msg.Parse("SELECT recall($1)"), Msg.Bind(values: "x"), Msg.Describe('P'), Msg.Execute(), Msg.Sync()));
        var types = string.Concat((await c.ReadUntilReadyAsync()).Select(m => m.Type));
        _db.Embeddings.Failure = null;
        Assert.Equal("12nEZ", types);
    }

    private async Task<RawPgConnection> LoginRawAsync()
    {
        await _db.EnsureRoleAsync(RawProtocolTests.User, RawProtocolTests.Password, RoleAuth.Cleartext);
        var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
        await c.LoginAsync(RawProtocolTests.User, RawProtocolTests.Password, _db.Name, 0, ("options", "-c search_path=probe,public"));
        return c;
    }

    [Fact]
    public async Task Batch_MixingRewrittenAndPlainCommands_AnswersInOrder()
    {
        await using var conn = await _db.OpenProbeAsync();
        await using var batch = new NpgsqlBatch(conn);
        for (var i = 0; i < 10; i++)
        {
            var c = new NpgsqlBatchCommand(i % 2 == 0 ? "SELECT recall($1)" : "SELECT $1::text");
            c.Parameters.AddWithValue("t" + i);
            batch.BatchCommands.Add(c);
        }
        await using var reader = await batch.ExecuteReaderAsync();
        for (var i = 0; i < 10; i++)
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(i % 2 == 0 ? Expected("t" + i) : "t" + i, reader.GetString(0));
            await reader.NextResultAsync();
        }
    }

    [Fact]
    public async Task ProviderFailure_InSimpleQueryInsideATransaction_Gives38000_AndTheTransactionIsFailed()
    {
        await using var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
        await _db.EnsureRoleAsync(RawProtocolTests.User, RawProtocolTests.Password, RoleAuth.Cleartext);
        await c.LoginAsync(RawProtocolTests.User, RawProtocolTests.Password, _db.Name, 0, ("options", "-c search_path=probe,public"));
        await c.SendAsync(Msg.Query("BEGIN"));
        await c.ReadUntilReadyAsync();
        _db.Embeddings.Failure = new MemorySql.Embeddings.EmbeddingException("test-v1", "provider is down", isTransient: true);
        await c.SendAsync(Msg.Query("SELECT recall('x')"));
        var answer = await c.ReadUntilReadyAsync();
        var error = answer.Single(m => m.Type == 'E').Error;
        Assert.Equal("38000", error.SqlState);
        Assert.Contains("test-v1", error.Message, StringComparison.Ordinal);
        Assert.Equal((byte)'E', answer[^1].Payload[0]); // PostgreSQL's own transaction state: failed
        _db.Embeddings.Failure = null;
        await c.SendAsync(Msg.Query("SELECT 1"));
        Assert.Equal("25P02", (await c.ReadUntilReadyAsync()).Single(m => m.Type == 'E').Error.SqlState);
        await c.SendAsync(Msg.Query("ROLLBACK"));
        Assert.Equal((byte)'I', (await c.ReadUntilReadyAsync())[^1].Payload[0]);
    }

    [Fact]
    public async Task ProviderFailure_AtBind_Gives38000_AndTheSessionStaysUsable()
    {
        await using var c = await LoginRawAsync();
        _db.Embeddings.Failure = new InvalidOperationException("connection refused");
        await c.SendAsync(Msg.Concat(Msg.Parse("SELECT recall($1)", "s"), Msg.Bind("s", "", "will fail"), Msg.Execute(), Msg.Sync()));
        var failed = await c.ReadUntilReadyAsync();
        Assert.Equal("38000", failed.Single(m => m.Type == 'E').Error.SqlState);
        _db.Embeddings.Failure = null;
        // The same prepared statement, bound again on the same session, now works.
        await c.SendAsync(Msg.Concat(Msg.Bind("s", "", "works again"), Msg.Execute(), Msg.Sync()));
        var answer = await c.ReadUntilReadyAsync();
        Assert.Equal(Expected("works again"), answer.Single(m => m.Type == 'D').Text[6..]);
    }

    [Fact]
    public async Task ProviderFailure_WithNpgsql_ReportsTheProviderAnd38000_AndTheConnectionStaysOpen()
    {
        await using var conn = await _db.OpenProbeAsync();
        _db.Embeddings.Failure = new InvalidOperationException("connection refused");
        await using var cmd = new NpgsqlCommand("SELECT recall(@q)", conn);
        cmd.Parameters.AddWithValue("q", "will fail");
        var e = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteScalarAsync());
        Assert.Equal("38000", e.SqlState);
        Assert.Contains("test-v1", e.MessageText, StringComparison.Ordinal);
        // 38000, not class 58: Npgsql would close its connection after a class-58 error.
        Assert.Equal(System.Data.ConnectionState.Open, conn.State);
        _db.Embeddings.Failure = null;
        await using var again = new NpgsqlCommand("SELECT 1", conn);
        Assert.Equal(1, await again.ExecuteScalarAsync());
    }

    [Fact]
    public async Task CancelWhileEmbedding_Gives57014_AndTheConnectionStaysUsable()
    {
        await using var conn = await _db.OpenProbeAsync();
        _db.Embeddings.Delay = TimeSpan.FromSeconds(30);
        await using (var cmd = new NpgsqlCommand("SELECT recall(@q)", conn))
        {
            cmd.Parameters.AddWithValue("q", "slow");
            var running = cmd.ExecuteScalarAsync();
            await Task.Delay(300);
            cmd.Cancel();
            var e = await Assert.ThrowsAnyAsync<Exception>(() => running);
            Assert.Equal("57014", (e as PostgresException ?? (PostgresException)e.InnerException!).SqlState);
        }
        _db.Embeddings.Delay = TimeSpan.Zero;
        await using var after = new NpgsqlCommand("SELECT recall('after')", conn);
        Assert.Equal(Expected("after"), await after.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Psql_SimpleProtocolWithVariable_IsRewritten()
    {
        var result = await ClientProgram.RunAsync(_db.Server.Binaries.Psql,
            ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "t=psql text", "-f", "-"],
            new Dictionary<string, string>
            {
                ["PGHOST"] = "127.0.0.1", ["PGPORT"] = _db.ProxyPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["PGUSER"] = _db.Server.AdminUser, ["PGPASSWORD"] = _db.Server.AdminPassword, ["PGDATABASE"] = _db.Name,
            }, stdin: "SET search_path = probe, public;\nSELECT recall(:'t');\n");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(Expected("psql text"), result.StdOut, StringComparison.Ordinal);
    }
}
