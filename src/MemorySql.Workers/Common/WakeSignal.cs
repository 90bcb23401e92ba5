namespace MemorySql.Workers.Common;

/// <summary>
/// A broadcast wake-up for worker loops. A loop takes <see cref="Current"/> before it looks for work and
/// waits on it afterwards, so a wake-up that arrives while it works is never lost: the task is already
/// complete and the loop goes round again at once.
/// </summary>
internal sealed class WakeSignal
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Set"/>.</summary>
    public Task Current
    {
        get
        {
            lock (_lock) return _next.Task;
        }
    }

    /// <summary>Wakes every loop waiting on (or about to wait on) the current task.</summary>
    public void Set()
    {
        TaskCompletionSource fired;
        lock (_lock)
        {
            fired = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        fired.TrySetResult();
    }

    /// <summary>Waits for <paramref name="wake"/> or <paramref name="timeout"/>, whichever comes first; true when woken.</summary>
    public static async Task<bool> WaitAsync(Task wake, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (wake.IsCompleted) return true;
        using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, delayCancel.Token);
        var first = await Task.WhenAny(wake, delay);
        await delayCancel.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
        return first == wake;
    }
}
