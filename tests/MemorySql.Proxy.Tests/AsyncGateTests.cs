namespace MemorySql.Proxy.Tests;

public sealed class AsyncGateTests
{
    [Fact]
    public async Task Gate_LetsOneHolderIn_AtATime_UnderContention()
    {
        var gate = new AsyncGate();
        var inside = 0;
        var maxInside = 0;
        long total = 0;
        async Task WorkAsync(int n)
        {
            for (var i = 0; i < 200; i++)
            {
                if (!((i + n) % 3 == 0 && gate.TryEnter())) await gate.EnterAsync();
                var now = Interlocked.Increment(ref inside);
                maxInside = Math.Max(maxInside, now);
                var before = total;
                if (i % 7 == 0) await Task.Yield();
                total = before + 1; // a lost update if two holders overlapped
                Interlocked.Decrement(ref inside);
                gate.Exit();
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 8).Select(n => Task.Run(() => WorkAsync(n))));
        Assert.Equal(1, maxInside);
        Assert.Equal(8 * 200, total);
        Assert.True(gate.TryEnter(), "the gate is free again after every holder left");
    }

    [Fact]
    public async Task Gate_HandsOver_InArrivalOrder()
    {
        var gate = new AsyncGate();
        Assert.True(gate.TryEnter());
        var order = new List<int>();
        var waiters = new List<Task>();
        for (var i = 0; i < 5; i++)
        {
            var n = i;
            waiters.Add(gate.EnterAsync().ContinueWith(_ => { lock (order) order.Add(n); }, TaskScheduler.Default));
        }
        Assert.False(gate.TryEnter());
        for (var i = 0; i < 5; i++)
        {
            gate.Exit();
            await waiters[i].WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.Equal([0, 1, 2, 3, 4], order);
        gate.Exit();
        Assert.True(gate.TryEnter());
    }

    [Fact]
    public async Task CanceledWaiter_IsSkipped_AndTheNextOneGetsTheGate()
    {
        var gate = new AsyncGate();
        Assert.True(gate.TryEnter());
        using var cts = new CancellationTokenSource();
        var canceled = gate.EnterAsync(cts.Token);
        var next = gate.EnterAsync();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
        Assert.False(next.IsCompleted);
        gate.Exit();
        await next.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(gate.TryEnter(), "the gate passed to the waiter, it was never free");
        gate.Exit();
        Assert.True(gate.TryEnter());
    }

    [Fact]
    public async Task EnterAsync_WithACanceledToken_WhileHeld_IsCanceled_AndLeavesTheGateHeld()
    {
        var gate = new AsyncGate();
        Assert.True(gate.TryEnter());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.EnterAsync(new CancellationToken(canceled: true)));
        Assert.False(gate.TryEnter());
        gate.Exit();
        Assert.True(gate.TryEnter());
    }
}
