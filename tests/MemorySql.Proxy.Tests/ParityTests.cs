using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// For traffic that needs no rewrite, the client must receive through the proxy exactly what PostgreSQL sends
/// directly: the same raw message sequences go to both and the message streams are compared byte for byte
/// (BackendKeyData excepted, and ParameterStatus compared as a set at startup).
/// </summary>
public sealed class ParityTests : IClassFixture<ProxyFixture>, IAsyncLifetime
{
    private readonly ProxyFixture _db;

    public ParityTests(ProxyFixture db) => _db = db;

    public Task InitializeAsync() => _db.EnsureRoleAsync(RawProtocolTests.User, RawProtocolTests.Password, RoleAuth.Cleartext);
    public Task DisposeAsync() => Task.CompletedTask;

    public static TheoryData<string> Sequences => new(SequenceTable.Keys);

    private static readonly Dictionary<string, byte[][]> SequenceTable = new()
    {
        ["simple"] = [Msg.Query("SELECT 1 AS a, 'x'::text AS b, NULL::int AS c")],
        ["multi-statement"] = [Msg.Query("SELECT 1; SELECT 2 AS two; SELECT 'three'")],
        ["multi-statement-with-error"] = [Msg.Query("SELECT 1; SELECT 1/0; SELECT 3")],
        ["empty-queries"] = [Msg.Query(""), Msg.Query(";"), Msg.Query("  ")],
        ["extended"] = [Msg.Parse("SELECT $1::int + 1"), Msg.Bind(values: "41"), Msg.Describe('P'), Msg.Execute(), Msg.Sync()],
        ["pipelined"] = [.. Enumerable.Range(0, 20).SelectMany(i => new[] { Msg.Parse("SELECT $1::int * 2"), Msg.Bind(values: i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Msg.Execute() }), Msg.Sync()],
        ["error-mid-pipeline"] =
        [
            Msg.Parse("SELECT 1"), Msg.Bind(), Msg.Execute(),
            Msg.Parse("SELEC broken"), Msg.Bind(), Msg.Execute(),
            Msg.Parse("SELECT 3"), Msg.Bind(), Msg.Execute(), Msg.Sync(),
            Msg.Query("SELECT 'after the error'"),
        ],
        ["named-statement-describe-close"] =
        [
            Msg.Parse("SELECT $1::text AS echoed", "s1", 25), Msg.Describe('S', "s1"), Msg.Bind("s1", "", "hello"), Msg.Execute(),
            Msg.Close('S', "s1"), Msg.Sync(), Msg.Bind("s1", "", "gone"), Msg.Execute(), Msg.Sync(),
        ],
        ["flush-before-sync"] = [Msg.Parse("SELECT 42"), Msg.Bind(), Msg.Describe('P'), Msg.Execute(), Msg.Flush(), Msg.Sync()],
        ["portal-suspended"] = [Msg.Parse("SELECT generate_series(1, 5)"), Msg.Bind(), Msg.Execute(maxRows: 2), Msg.Execute(maxRows: 2), Msg.Execute(), Msg.Sync()],
        ["binary-results"] = [Msg.Parse("SELECT 12345::int4, 1.5::float8, 'bin'::bytea"), BindBinaryResults(), Msg.Execute(), Msg.Sync()],
        ["copy-in"] =
        [
            Msg.Query("CREATE TEMP TABLE c (a int, b text)"), Msg.Query("COPY c FROM STDIN"),
            Msg.CopyData("1\tone\n"), Msg.CopyData("2\ttwo\n"), Msg.CopyDone(), Msg.Query("SELECT a + 0 AS a, b || '' AS b FROM c ORDER BY a"), // expressions: a temp table's OID differs per session
        ],
        ["copy-in-fail"] = [Msg.Query("CREATE TEMP TABLE c2 (a int)"), Msg.Query("COPY c2 FROM STDIN"), Msg.CopyData("1\n"), Msg.CopyFail("client gave up"), Msg.Query("SELECT count(*) FROM c2")],
        ["copy-in-bad-data"] = [Msg.Query("CREATE TEMP TABLE c3 (a int)"), Msg.Query("COPY c3 FROM STDIN"), Msg.CopyData("not a number\n"), Msg.CopyDone(), Msg.Query("SELECT 1")],
        ["copy-out"] = [Msg.Query("COPY (SELECT g, 'v' || g FROM generate_series(1, 200) g) TO STDOUT")],
        ["copy-out-extended"] = [Msg.Parse("COPY (SELECT 1) TO STDOUT"), Msg.Bind(), Msg.Execute(), Msg.Sync()],
        ["notices"] = [Msg.Query("DO $$BEGIN RAISE NOTICE 'hello'; RAISE WARNING 'careful'; END$$")],
        ["failed-transaction"] = [Msg.Query("BEGIN"), Msg.Query("SELECT 1/0"), Msg.Query("SELECT 1"), Msg.Query("ROLLBACK"), Msg.Query("SELECT 'ok'")],
        ["parameter-status-midstream"] = [Msg.Query("SET application_name = 'parity'; SET TIME ZONE 'UTC'; SELECT 1")],
        ["large-row"] = [Msg.Query("SELECT repeat('x', 3000000), repeat('y', 10)")],
    };

    private static byte[] BindBinaryResults() =>
        new MessageBuilder().StartMessage(FrontendCode.Bind).WriteCString("").WriteCString("").WriteInt16(0).WriteInt16(0).WriteInt16(1).WriteInt16(1).EndMessage().ToArray();

    [Theory]
    [MemberData(nameof(Sequences))]
    public async Task MessageStream_ThroughProxy_EqualsDirect(string sequence)
    {
        var messages = SequenceTable[sequence];
        var readyCount = CountSyncPoints(messages);
        var direct = await RunAsync(_db.Server.Port, messages, readyCount);
        var proxied = await RunAsync(_db.ProxyPort, messages, readyCount);

        Assert.Equal(direct.Startup.Where(m => m.Type == 'S').Select(m => m.Text).Order(), proxied.Startup.Where(m => m.Type == 'S').Select(m => m.Text).Order());
        Assert.Equal(direct.Startup.Where(m => m.Type is not ('S' or 'K')).Select(m => m.ToString()), proxied.Startup.Where(m => m.Type is not ('S' or 'K')).Select(m => m.ToString()));
        Assert.Equal(direct.Responses.Count, proxied.Responses.Count);
        for (var i = 0; i < direct.Responses.Count; i++)
            Assert.True(direct.Responses[i] == proxied.Responses[i] || direct.Responses[i].ToString() == proxied.Responses[i].ToString(),
                $"message {i}: direct {Describe(direct.Responses[i])}, proxy {Describe(proxied.Responses[i])}");
    }

    private static string Describe(PgMessage m) => m.Type + " " + (m.Payload.Length > 80 ? m.Payload.Length + " bytes" : m.Text);

    private static int CountSyncPoints(byte[][] messages) =>
        messages.Count(m => m[0] is (byte)'Q' or (byte)'S');

    private async Task<(List<PgMessage> Startup, List<PgMessage> Responses)> RunAsync(int port, byte[][] messages, int readyCount)
    {
        await using var c = await RawPgConnection.ConnectAsync(port);
        var startup = await c.LoginAsync(RawProtocolTests.User, RawProtocolTests.Password, _db.Name);
        // One write, as a pipelining client would send it.
        await c.SendAsync(Msg.Concat(messages));
        var responses = await c.ReadUntilReadyAsync(readyCount);
        await c.SendAsync(Msg.Terminate());
        return (startup, responses);
    }
}
