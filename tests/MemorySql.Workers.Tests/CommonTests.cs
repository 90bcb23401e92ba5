using MemorySql.Workers.Common;

namespace MemorySql.Workers.Tests;

public sealed class BackoffTests
{
    [Fact]
    public void Ceiling_DoublesPerAttemptUpToTheMaximum()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        Assert.Equal([2, 4, 8, 16, 30, 30], Enumerable.Range(1, 6).Select(a => backoff.Ceiling(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(30), backoff.Ceiling(10_000));
    }

    [Fact]
    public void Delay_IsJitteredBetweenHalfAndAllOfTheCeiling()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var delays = Enumerable.Range(0, 500).Select(_ => backoff.Delay(4)).ToList();
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8)));
        Assert.True(delays.Distinct().Count() > 100, "jitter spreads the delays");
    }

    [Fact]
    public void Constructor_RejectsAMaximumBelowTheBase() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1)));
}

public sealed class WakeSignalTests
{
    [Fact]
    public async Task Set_CompletesTheTaskTakenBefore_AndNotTheNextOne()
    {
        var signal = new WakeSignal();
        var before = signal.Current;
        Assert.False(before.IsCompleted);
        signal.Set();
        await before.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(signal.Current.IsCompleted);
    }

    [Fact]
    public async Task WaitAsync_ReturnsTrueWhenWoken_FalseOnTimeout()
    {
        var signal = new WakeSignal();
        var wake = signal.Current;
        Assert.False(await WakeSignal.WaitAsync(wake, TimeSpan.FromMilliseconds(20), CancellationToken.None));
        signal.Set();
        Assert.True(await WakeSignal.WaitAsync(wake, TimeSpan.FromMinutes(5), CancellationToken.None));
    }

    [Fact]
    public async Task WaitAsync_Cancelled_Throws()
    {
        using var cts = new CancellationTokenSource();
        var wait = WakeSignal.WaitAsync(new WakeSignal().Current, TimeSpan.FromMinutes(5), cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}

public sealed class WorkerHealthTests
{
    [Fact]
    public void Snapshot_ReflectsSuccessesErrorsAndCounters()
    {
        var health = new WorkerHealth("embed", "builtin-v1");
        health.MarkRunning(true);
        health.RecordError("boom");
        health.RecordError("boom again");
        Assert.Equal(2, health.Snapshot().ConsecutiveErrors);
        health.RecordSuccess(10);
        health.RecordRetried(3);
        health.RecordFailed(1);
        health.Count("queries", 4);
        health.Count("queries", 1);
        health.RecordQueue(7, 2);

        var s = health.Snapshot();
        Assert.Equal(("embed", "builtin-v1", true, 10L, 3L, 1L, 0), (s.Worker, s.Target, s.Running, s.Processed, s.Retried, s.Failed, s.ConsecutiveErrors));
        Assert.Equal("boom again", s.LastError);
        Assert.Equal(5, s.Counters["queries"]);
        Assert.Equal((7L, 2L), (s.QueueDepth!.Value, s.FailedDepth!.Value));
        Assert.NotNull(s.LastSuccessAt);
        Assert.NotNull(s.StartedAt);
    }
}
