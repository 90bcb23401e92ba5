using System.Net;
using System.Net.Sockets;
using MemorySql.Protocol;
using MemorySql.Proxy.Sockets;

namespace MemorySql.Proxy.Tests;

/// <summary>The proxy's own epoll-driven socket stream, against a real TCP peer on loopback.</summary>
public sealed class EpollSocketStreamTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ZeroByteRead_AfterAShortRead_WaitsForTheNextData()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        await using var _ = stream;
        using var __ = peer;
        await SendAndAwaitTheEdgeAsync(peer, stream, "abc"u8.ToArray());
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(Patience));
        var buffer = new byte[100];
        Assert.Equal(3, await stream.ReadAsync(buffer).AsTask().WaitAsync(Patience));

        var wait = stream.ReadAsync(Memory<byte>.Empty).AsTask();
        await Task.Delay(100);
        Assert.False(wait.IsCompleted, "the socket was drained: the zero-byte read waits for the next data");
        peer.Send("de"u8);
        Assert.Equal(0, await wait.WaitAsync(Patience));
        Assert.Equal(2, await stream.ReadAsync(buffer).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task PeerClosingRightAfterItsData_IsSeenAsTheEnd_NotWaitedForever()
    {
        if (!EpollSocketEngine.IsSupported) return;
        // Data and FIN may come with one edge: a short read returns the data, and the FIN must still be seen.
        for (var i = 0; i < 20; i++)
        {
            var (stream, peer) = await ConnectedPairAsync();
            await using var _ = stream;
            peer.Send("last words"u8);
            peer.Shutdown(SocketShutdown.Send);
            var buffer = new byte[100];
            var total = 0;
            while (true)
            {
                await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(Patience);
                var n = await stream.ReadAsync(buffer.AsMemory(total)).AsTask().WaitAsync(Patience);
                if (n == 0) break;
                total += n;
            }
            Assert.Equal(10, total);
            peer.Dispose();
        }
    }

    [Fact]
    public async Task Write_LargerThanTheSocketBuffers_CompletesOnceThePeerReads()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        await using var _ = stream;
        using var __ = peer;
        var data = new byte[16 * 1024 * 1024];
        Random.Shared.NextBytes(data);
        var write = stream.WriteAsync(data).AsTask();
        await Task.Delay(100);
        Assert.False(write.IsCompleted, "16 MB cannot fit in the socket buffers before the peer reads");

        var received = new byte[data.Length];
        var offset = 0;
        while (offset < received.Length) offset += await peer.ReceiveAsync(received.AsMemory(offset));
        await write.WaitAsync(Patience);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task PendingRead_IsCancelledByItsToken()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        await using var _ = stream;
        using var __ = peer;
        using var cts = new CancellationTokenSource();
        var read = stream.ReadAsync(new byte[10], cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Patience));

        peer.Send("x"u8); // the stream stays usable
        var buffer = new byte[10];
        Assert.Equal(1, await stream.ReadAsync(buffer).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task CancelReads_WakesTheWaitingZeroByteRead_AndEndsEveryLaterRead()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        await using var _ = stream;
        using var __ = peer;
        await SendAndAwaitTheEdgeAsync(peer, stream, "abc"u8.ToArray());
        Assert.Equal(3, await stream.ReadAsync(new byte[100]).AsTask().WaitAsync(Patience));
        var wait = stream.ReadAsync(Memory<byte>.Empty).AsTask();
        await Task.Delay(100);
        Assert.False(wait.IsCompleted, "the socket was drained: the zero-byte read waits");

        stream.CancelReads();

        Assert.Equal(0, await wait.WaitAsync(Patience));
        peer.Send("late"u8);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.ReadAsync(new byte[10]).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Relay_OverAnEpollSocket_StopsWhenAskedWhileWaiting_AndRelaysUntilThen()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        await using var _ = stream;
        using var __ = peer;
        var destination = new MemoryStream();
        using var stop = new CancellationTokenSource();
        var run = new Relay(stream, new MessageSink(destination), new FrontendInspector(1 << 20)).RunAsync(stop.Token);
        peer.Send(new MessageBuilder().Sync().ToArray());
        var deadline = DateTime.UtcNow + Patience;
        while (destination.Length < 5 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal(5, destination.Length);
        Assert.False(run.IsCompleted);

        await stop.CancelAsync();

        Assert.Equal(RelayEnd.Canceled, await run.WaitAsync(Patience));
    }

    [Fact]
    public async Task PendingRead_EndsWhenTheStreamIsDisposed()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        using var __ = peer;
        var read = stream.ReadAsync(new byte[10]).AsTask();
        await stream.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => read.WaitAsync(Patience));
    }

    [Fact]
    public async Task ResetByPeer_FailsTheReadWithAnIOException()
    {
        if (!EpollSocketEngine.IsSupported) return;
        var (stream, peer) = await ConnectedPairAsync();
        await using var _ = stream;
        peer.LingerState = new LingerOption(true, 0);
        peer.Close(); // RST
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (true)
            {
                await stream.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(Patience);
                if (await stream.ReadAsync(new byte[10]).AsTask().WaitAsync(Patience) == 0) return;
            }
        });
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task ConnectTcp_ToAPortNobodyListensOn_FailsWithConnectionRefused()
    {
        if (!EpollSocketEngine.IsSupported) return;
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)probe.LocalEndPoint!).Port; // bound, not listening
        var error = await Assert.ThrowsAsync<SocketException>(() => EpollSocketEngine.ConnectTcpAsync("127.0.0.1", port, CancellationToken.None));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    /// <summary>
    /// Sends, then waits until the loop has reported the readable edge. Otherwise the stream may receive the bytes
    /// before the edge is reported; the late edge then makes the next zero-byte read complete at once — a
    /// permitted early wake-up (the following read finds nothing and waits), but not what a test of waiting wants.
    /// </summary>
    private static async Task SendAndAwaitTheEdgeAsync(Socket peer, EpollSocketStream stream, byte[] data)
    {
        var before = stream.ReadableVersion;
        peer.Send(data);
        var deadline = DateTime.UtcNow + Patience;
        while (stream.ReadableVersion == before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the loop never reported the data as readable");
            await Task.Delay(1);
        }
    }

    private static async Task<(EpollSocketStream Stream, Socket Peer)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var accept = listener.AcceptAsync();
        var stream = await EpollSocketEngine.ConnectTcpAsync("127.0.0.1", ((IPEndPoint)listener.LocalEndPoint!).Port, CancellationToken.None);
        return (stream, await accept);
    }
}
