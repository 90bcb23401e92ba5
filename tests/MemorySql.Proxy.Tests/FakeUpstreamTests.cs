using System.Buffers.Binary;
using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;

namespace MemorySql.Proxy.Tests;

/// <summary>Faults only a scripted server can produce on demand: the proxy must answer each with an error, never a hang.</summary>
public sealed class FakeUpstreamTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task UpstreamVanishesMidQuery_ClientGetsFatal08006_AndTheConnectionCloses()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            await backend.CompleteStartupAsync();
            await backend.ReadAsync(); // the query
            backend.Kill();
        });
        await using var client = await proxy.LoginAsync();
        await client.SendAsync(Msg.Query("SELECT 1"));
        var messages = await client.ReadUntilClosedAsync(Short);
        var error = Assert.Single(messages, m => m.Type == 'E').Error;
        Assert.Equal("08006", error.SqlState);
        Assert.Equal("FATAL", error.Severity);
    }

    [Fact]
    public async Task UpstreamSendsFatalAdminShutdown_ClientGetsThatError_AndNothingMore()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            await backend.CompleteStartupAsync();
            await backend.ReadAsync();
            await backend.WriteAsync(new MessageBuilder().ErrorResponse(PgError.Fatal("57P01", "terminating connection due to administrator command")));
            backend.Kill();
        });
        await using var client = await proxy.LoginAsync();
        await client.SendAsync(Msg.Query("SELECT 1"));
        var messages = await client.ReadUntilClosedAsync(Short);
        var error = Assert.Single(messages).Error;
        Assert.Equal("57P01", error.SqlState);
    }

    [Fact]
    public async Task UpstreamClosesInTheMiddleOfADataRow_ClientConnectionIsClosed_NotLeftHanging()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            await backend.CompleteStartupAsync();
            await backend.ReadAsync();
            var b = new MessageBuilder();
            b.StartMessage(BackendCode.DataRow).WriteInt16(1).WriteInt32(1000).EndMessage(); // claims 1000 bytes more
            await backend.WriteAsync(b.WrittenSpan[..b.Length].ToArray().Take(9).ToArray().Concat(new byte[100]).ToArray());
            backend.Kill();
        });
        await using var client = await proxy.LoginAsync();
        await client.SendAsync(Msg.Query("SELECT 1"));
        Assert.True(await client.IsClosedAsync(Short));
    }

    [Fact]
    public async Task MalformedBackendMessage_ClientGets08P01_OtherSessionsKeepWorking()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            if (backend.Startup.GetParameter("user") == "broken")
            {
                await backend.CompleteStartupAsync();
                await backend.ReadAsync();
                await backend.WriteAsync(new byte[] { 0x01, 0, 0, 0, 8, 1, 2, 3, 4 }); // unknown type 0x01
                await Task.Delay(5000);
                return;
            }
            await backend.ServeSimpleQueriesAsync();
        });
        await using var healthy = await proxy.LoginAsync();
        await using var broken = await RawPgConnection.ConnectAsync(proxy.Port);
        await broken.LoginAsync("broken", "", "fake");
        await broken.SendAsync(Msg.Query("SELECT 1"));
        var messages = await broken.ReadUntilClosedAsync(Short);
        Assert.Equal("08P01", Assert.Single(messages, m => m.Type == 'E').Error.SqlState);

        await healthy.SendAsync(Msg.Query("still fine"));
        var answer = await healthy.ReadUntilReadyAsync();
        Assert.Contains(answer, m => m.Type == 'D' && m.Text.Contains("still fine", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UpstreamClosesDuringAuthentication_ClientGets08006()
    {
        await using var proxy = await FakeProxy.StartAsync(backend =>
        {
            backend.Kill();
            return Task.CompletedTask;
        });
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        await client.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var messages = await client.ReadUntilClosedAsync(Short);
        Assert.Equal("08006", Assert.Single(messages).Error.SqlState);
    }

    [Fact]
    public async Task UpstreamSendsGarbageDuringAuthentication_ClientGets08P01()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            await backend.WriteAsync(new byte[] { (byte)'R', 0, 0, 0, 2 });
            await Task.Delay(5000);
        });
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        await client.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var messages = await client.ReadUntilClosedAsync(Short);
        Assert.Equal("08P01", Assert.Single(messages).Error.SqlState);
    }

    [Fact]
    public async Task ScramPlus_IsRemovedFromTheMechanismsOfferedToTheClient()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            await backend.WriteAsync(new MessageBuilder().AuthenticationSasl(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
            await Task.Delay(5000);
        });
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        await client.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var request = await client.ReadAsync();
        Assert.Equal('R', request.Type);
        Assert.Equal(AuthenticationCode.Sasl, BinaryPrimitives.ReadInt32BigEndian(request.Payload));
        Assert.Equal(["SCRAM-SHA-256"], SaslMechanisms.Parse(request.Payload.AsSpan(4)));
    }

    [Fact]
    public async Task UpstreamOffersOnlyScramPlus_ClientGets28000NamingChannelBinding()
    {
        await using var proxy = await FakeProxy.StartAsync(async backend =>
        {
            await backend.WriteAsync(new MessageBuilder().AuthenticationSasl(["SCRAM-SHA-256-PLUS"]));
            await Task.Delay(5000);
        });
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        await client.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var error = (await client.ReadAsync()).Error;
        Assert.Equal("28000", error.SqlState);
        Assert.Contains("channel binding", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancelRequest_ReachesOnlyTheUpstreamBackendOfItsSession_WithThatBackendsKey()
    {
        await using var proxy = await FakeProxy.StartAsync();
        await using var a = await RawPgConnection.ConnectAsync(proxy.Port);
        var aStartup = await a.LoginAsync("a", "", "fake");
        await using var b = await proxy.LoginAsync();
        var aKey = aStartup.Single(m => m.Type == 'K');
        var (aPid, aSecret) = BackendMessages.ReadBackendKeyData(aKey.Payload);
        var backendA = proxy.Upstream.Backends.Single(x => x.Startup.GetParameter("user") == "a");
        Assert.NotEqual(backendA.ProcessId, aPid);

        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.Upstream.CancelReceived += (_, _) => received.TrySetResult();

        // A wrong secret is ignored.
        await SendCancelAsync(proxy.Port, aPid, aSecret.Select(x => (byte)~x).ToArray());
        // The right key is forwarded with the upstream backend's own key.
        await SendCancelAsync(proxy.Port, aPid, aSecret);
        await received.Task.WaitAsync(Short);
        await Task.Delay(200);
        var cancel = Assert.Single(proxy.Upstream.Cancels);
        Assert.Equal(backendA.ProcessId, cancel.ProcessId);
        Assert.Equal(backendA.Secret, cancel.Secret);
    }

    [Fact]
    public async Task CancelRequest_AfterItsSessionEnded_IsNotForwarded()
    {
        await using var proxy = await FakeProxy.StartAsync();
        var a = await RawPgConnection.ConnectAsync(proxy.Port);
        var (pid, secret) = BackendMessages.ReadBackendKeyData((await a.LoginAsync("a", "", "fake")).Single(m => m.Type == 'K').Payload);
        await a.SendAsync(Msg.Terminate());
        Assert.True(await a.IsClosedAsync(Short));
        await a.DisposeAsync();
        await WaitUntil(() => proxy.Proxy.ConnectionCount == 0);

        await SendCancelAsync(proxy.Port, pid, secret);
        await Task.Delay(300);
        Assert.Empty(proxy.Upstream.Cancels);
    }

    [Fact]
    public async Task ProtocolVersion32Client_GetsA32ByteCancelKey_ThatStillCancels()
    {
        await using var proxy = await FakeProxy.StartAsync();
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        var startup = await client.LoginAsync("tester", "", "fake", minor: 2);
        Assert.DoesNotContain(startup, m => m.Type == 'v'); // 3.2 is supported as asked
        var (pid, secret) = BackendMessages.ReadBackendKeyData(startup.Single(m => m.Type == 'K').Payload);
        Assert.Equal(32, secret.Length);
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        proxy.Upstream.CancelReceived += (_, _) => received.TrySetResult();
        await SendCancelAsync(proxy.Port, pid, secret);
        await received.Task.WaitAsync(Short);
        Assert.Equal(proxy.Upstream.Backends.Single().Secret, proxy.Upstream.Cancels.Single().Secret);
    }

    [Fact]
    public async Task UnreachableUpstream_ClientGetsFatal08001NamingTheServer()
    {
        int deadPort;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            deadPort = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Upstream.Port = deadPort);
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        await client.SendAsync(RawPgConnection.Startup("tester", "fake"));
        var error = (await client.ReadAsync()).Error;
        Assert.Equal("08001", error.SqlState);
        Assert.Contains(deadPort.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThousandConcurrentClients_AllLogInAndQuery()
    {
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Limits.MaxConnections = 2000);
        var clients = new RawPgConnection[1000];
        try
        {
            for (var i = 0; i < clients.Length; i += 100)
                await Task.WhenAll(Enumerable.Range(i, 100).Select(async j => clients[j] = await proxy.LoginAsync()));
            Assert.Equal(1000, proxy.Proxy.ConnectionCount);
            await Task.WhenAll(clients.Select(async (c, i) =>
            {
                await c.SendAsync(Msg.Query("client " + i));
                var answer = await c.ReadUntilReadyAsync();
                Assert.Contains(answer, m => m.Type == 'D' && m.Text.EndsWith("client " + i, StringComparison.Ordinal));
            }));
        }
        finally
        {
            foreach (var c in clients)
                if (c is not null) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task MoreClientsThanMaxConnections_TheExtraOneGets53300()
    {
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Limits.MaxConnections = 2);
        await using var one = await proxy.LoginAsync();
        await using var two = await proxy.LoginAsync();
        await using var three = await RawPgConnection.ConnectAsync(proxy.Port);
        await three.SendAsync(RawPgConnection.Startup("tester", "fake"));
        Assert.Equal("53300", (await three.ReadAsync()).Error.SqlState);
    }

    [Fact]
    public async Task IdleClient_IsClosedWith57P05_AfterClientIdleTimeout()
    {
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Limits.ClientIdleTimeout = TimeSpan.FromMilliseconds(500));
        await using var client = await proxy.LoginAsync();
        var messages = await client.ReadUntilClosedAsync(Short);
        Assert.Equal("57P05", Assert.Single(messages).Error.SqlState);
    }

    [Fact]
    public async Task ActiveClient_IsNotClosed_ByTheIdleSweep()
    {
        await using var proxy = await FakeProxy.StartAsync(backend => backend.ServeSimpleQueriesAsync(),
            o => o.Limits.ClientIdleTimeout = TimeSpan.FromSeconds(1));
        await using var client = await proxy.LoginAsync();
        // Three timeouts' worth of traffic, never quiet for long: the sweep must see the activity each time.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; watch.Elapsed < TimeSpan.FromSeconds(3); i++)
        {
            await client.SendAsync(Msg.Query($"ping {i}"));
            var answer = await client.ReadUntilReadyAsync();
            Assert.DoesNotContain(answer, m => m.Type == 'E');
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task StoppingTheProxy_ClosesSessionsWith57P01()
    {
        var proxy = await FakeProxy.StartAsync();
        await using var client = await proxy.LoginAsync();
        var closing = client.ReadUntilClosedAsync(Short);
        await proxy.DisposeAsync();
        var messages = await closing;
        Assert.Equal("57P01", Assert.Single(messages).Error.SqlState);
    }

    [Fact]
    public async Task StartupThatNeverFinishes_IsDroppedAfterStartupTimeout()
    {
        await using var proxy = await FakeProxy.StartAsync(configure: o => o.Limits.StartupTimeout = TimeSpan.FromMilliseconds(300));
        await using var client = await RawPgConnection.ConnectAsync(proxy.Port);
        await client.SendAsync(new byte[] { 0, 0 }); // half a length, then silence
        Assert.True(await client.IsClosedAsync(Short));
    }

    internal static async Task SendCancelAsync(int port, int pid, byte[] secret)
    {
        await using var c = await RawPgConnection.ConnectAsync(port);
        await c.SendAsync(new MessageBuilder().CancelRequest(pid, secret));
        await c.IsClosedAsync(TimeSpan.FromSeconds(5));
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(25);
        Assert.True(condition());
    }
}
