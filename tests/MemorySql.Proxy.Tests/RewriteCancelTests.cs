using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MemorySql.Embeddings.Llm;
using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// A cancel that comes while the proxy is between two steps of a memory call — reflect_context has run on the server,
/// the LLM has not been asked yet — must still cancel the call. The server has nothing running then and drops the
/// cancel (PostgreSQL ignores a cancel while idle), so only the proxy can honour it. A scripted upstream makes the
/// timing exact: it answers reflect_context only after the cancel has reached it.
/// </summary>
public sealed partial class RewriteCancelTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private const string Question = "where does Dana sit?";

    [Fact]
    public async Task CancelWhileReflectContextRuns_InASimpleQuery_Gives57014_WithoutAskingTheLlm()
    {
        var rig = new Rig();
        var (proxy, client, pid, secret) = await ConnectAsync(rig);
        await using var _ = proxy;
        await using var __ = client;

        await client.SendAsync(Msg.Query($"SELECT reflect('{Question}')::text"));
        await rig.ContextStarted.Task.WaitAsync(Patience);
        await FakeUpstreamTests.SendCancelAsync(proxy.Port, pid, secret);

        var replies = await client.ReadUntilReadyAsync(timeout: Patience);
        var error = Assert.Single(replies, m => m.Type == 'E').Error;
        Assert.Equal("57014", error.SqlState);
        Assert.DoesNotContain(replies, m => m.Type == 'D');
        Assert.Equal(0, rig.Llm.Calls);
        Assert.Equal(1, rig.Backend!.CancelsReceived); // the cancel did reach the server, which had finished reflect_context

        await AssertStillUsableAsync(client);
    }

    [Fact]
    public async Task CancelWhileReflectContextRuns_BeforeABind_Gives57014AtExecute_WithoutAskingTheLlm()
    {
        var rig = new Rig();
        var (proxy, client, pid, secret) = await ConnectAsync(rig);
        await using var _ = proxy;
        await using var __ = client;

        await client.SendAsync((byte[])[.. Msg.Parse("SELECT reflect($1)::text", "ask"), .. Msg.Bind("ask", "", Question), .. Msg.Execute(), .. Msg.Sync()]);
        await rig.ContextStarted.Task.WaitAsync(Patience);
        await FakeUpstreamTests.SendCancelAsync(proxy.Port, pid, secret);

        var replies = await client.ReadUntilReadyAsync(timeout: Patience);
        Assert.Equal("12EZ", new string([.. replies.Select(m => m.Type)]));
        Assert.Equal("57014", replies[2].Error.SqlState);
        Assert.Equal(0, rig.Llm.Calls);
        Assert.Equal(1, rig.Backend!.CancelsReceived);

        await AssertStillUsableAsync(client);
    }

    [Fact]
    public async Task WithoutACancel_TheSameScript_AsksTheLlm_AndReturnsReflectsRow()
    {
        // The control: the script is not what makes the tests above pass.
        var rig = new Rig { WaitForCancel = false };
        await using var proxy = await FakeProxy.StartAsync(rig.ServeAsync, embeddings: new TestEmbeddings(), llm: rig.Llm);
        await using var client = await proxy.LoginAsync();
        await client.SendAsync(Msg.Query($"SELECT reflect('{Question}')::text"));
        var replies = await client.ReadUntilReadyAsync(timeout: Patience);
        Assert.DoesNotContain(replies, m => m.Type == 'E');
        var row = Assert.Single(replies, m => m.Type == 'D');
        Assert.Contains("_synthesis =>", Encoding.UTF8.GetString(row.Payload), StringComparison.Ordinal);
        Assert.Equal(1, rig.Llm.Calls);
    }

    /// <summary>A proxy (with embeddings and the rig's LLM) in front of the rig's server, and a client logged in with its cancel key.</summary>
    private static async Task<(FakeProxy Proxy, RawPgConnection Client, int Pid, byte[] Secret)> ConnectAsync(Rig rig)
    {
        var proxy = await FakeProxy.StartAsync(rig.ServeAsync, embeddings: new TestEmbeddings(), llm: rig.Llm);
        var client = await RawPgConnection.ConnectAsync(proxy.Port);
        var (pid, secret) = BackendMessages.ReadBackendKeyData((await client.LoginAsync("tester", "", "fake")).Single(m => m.Type == 'K').Payload);
        return (proxy, client, pid, secret);
    }

    private static async Task AssertStillUsableAsync(RawPgConnection client)
    {
        await client.SendAsync(Msg.Query("SELECT 'fine'"));
        var replies = await client.ReadUntilReadyAsync(timeout: Patience);
        Assert.DoesNotContain(replies, m => m.Type == 'E');
        Assert.Contains("SELECT 'fine'", Encoding.UTF8.GetString(Assert.Single(replies, m => m.Type == 'D').Payload), StringComparison.Ordinal);
    }

    [GeneratedRegex("ERRCODE = '(?<code>[0-9A-Z]{5})', MESSAGE = '(?<message>[^']*)'")]
    private static partial Regex RaisedError();

    /// <summary>
    /// The scripted server: echoes every statement as a one-column row, answers reflect_context with one recalled memory
    /// (after the cancel has arrived, unless <see cref="WaitForCancel"/> is off), and runs the proxy's
    /// <c>DO … RAISE EXCEPTION</c> as PostgreSQL would: an ErrorResponse with its code, then skip to Sync.
    /// </summary>
    private sealed class Rig
    {
        public CountingLlm Llm { get; } = new();
        public TaskCompletionSource ContextStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool WaitForCancel { get; init; } = true;
        public Backend? Backend { get; private set; }

        public async Task ServeAsync(FakeBackend fake)
        {
            var backend = Backend = new Backend(fake);
            await fake.CompleteStartupAsync();
            var statements = new Dictionary<string, string>();
            var portals = new Dictionary<string, string>();
            var skipping = false;
            while (await fake.ReadAsync() is { } m)
            {
                if (m.Type == 'X') return;
                if (skipping && m.Type != 'S') continue;
                var fields = new FieldReader(m.Payload);
                switch (m.Type)
                {
                    case 'Q':
                    {
                        var sql = fields.CString();
                        var b = new MessageBuilder();
                        if (!await AnswerAsync(b, sql, withRowDescription: true)) b.StartMessage(BackendCode.CommandComplete).WriteCString("SELECT 1").EndMessage();
                        await fake.WriteAsync(b.ReadyForQuery(TransactionStatus.Idle));
                        break;
                    }
                    case 'P':
                        statements[fields.CString()] = fields.CString();
                        await fake.WriteAsync(new MessageBuilder().StartMessage(BackendCode.ParseComplete).EndMessage());
                        break;
                    case 'B':
                    {
                        var portal = fields.CString();
                        portals[portal] = fields.CString();
                        await fake.WriteAsync(new MessageBuilder().StartMessage(BackendCode.BindComplete).EndMessage());
                        break;
                    }
                    case 'E':
                    {
                        var b = new MessageBuilder();
                        var ok = await AnswerAsync(b, statements[portals[fields.CString()]], withRowDescription: false);
                        if (ok) b.StartMessage(BackendCode.CommandComplete).WriteCString("SELECT 1").EndMessage();
                        skipping = !ok;
                        await fake.WriteAsync(b);
                        break;
                    }
                    case 'C':
                        await fake.WriteAsync(new MessageBuilder().StartMessage(BackendCode.CloseComplete).EndMessage());
                        break;
                    case 'S':
                        skipping = false;
                        await fake.WriteAsync(new MessageBuilder().ReadyForQuery(TransactionStatus.Idle));
                        break;
                }
            }

            // Writes the statement's result (no CommandComplete); false when it raised an error.
            async Task<bool> AnswerAsync(MessageBuilder b, string sql, bool withRowDescription)
            {
                if (RaisedError().Match(sql) is { Success: true } raised)
                {
                    b.ErrorResponse(PgError.Error(raised.Groups["code"].Value, raised.Groups["message"].Value));
                    return false;
                }
                string value;
                if (sql.Contains("memory.reflect_context", StringComparison.Ordinal))
                {
                    ContextStarted.TrySetResult();
                    if (WaitForCancel) await backend.WaitForCancelAsync();
                    value = ContextJson;
                }
                else
                {
                    value = sql;
                }
                if (withRowDescription)
                    b.StartMessage(BackendCode.RowDescription).WriteInt16(1).WriteCString("value").WriteInt32(0).WriteInt16(0).WriteInt32(25).WriteInt16(-1).WriteInt32(-1).WriteInt16(0).EndMessage();
                var bytes = Encoding.UTF8.GetBytes(value);
                b.StartMessage(BackendCode.DataRow).WriteInt16(1).WriteInt32(bytes.Length).WriteBytes(bytes).EndMessage();
                return true;
            }
        }

        private static readonly string ContextJson = JsonSerializer.Serialize(new
        {
            workspace = "tester",
            query = Question,
            budget = new { offline_reason = (string?)null },
            sources = new[] { new { id = Guid.NewGuid(), content = "Dana sits by the window", score = 0.9, created_at = "2026-11-01T00:00:00Z", kind = "fact" } },
        });
    }

    private sealed class Backend(FakeBackend fake)
    {
        /// <summary>Cancels the proxy forwarded to this backend (a real server would have dropped them: nothing was running).</summary>
        public int CancelsReceived => fake.WasCancelled ? 1 : 0;

        public async Task WaitForCancelAsync()
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!fake.WasCancelled && DateTime.UtcNow < deadline) await Task.Delay(5);
            Assert.True(fake.WasCancelled, "the proxy never forwarded the cancel");
        }
    }

    /// <summary>An LLM that answers at once, citing the first memory, and counts its calls.</summary>
    private sealed class CountingLlm : ILlmProvider
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);
        public string Model => "counting-llm";

        public Task<LlmResult> CompleteAsync(LlmRequest request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            const string answer = """{"answer": "By the window [1].", "cited": [1]}""";
            return Task.FromResult(new LlmResult(answer, JsonDocument.Parse(answer).RootElement.Clone(), new LlmUsage(10, 5), Model));
        }
    }

    private sealed class FieldReader(byte[] payload)
    {
        private int _at;

        public string CString()
        {
            var end = Array.IndexOf(payload, (byte)0, _at);
            var value = Encoding.UTF8.GetString(payload, _at, end - _at);
            _at = end + 1;
            return value;
        }
    }
}
