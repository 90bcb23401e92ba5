namespace MemorySql.Proxy;

/// <summary>
/// A lock for asynchronous code whose uncontended enter and exit cost one compare-and-swap each. The relay
/// takes its destination's lock for every write (four times per pgbench transaction), and
/// <see cref="SemaphoreSlim"/> takes a monitor inside both Wait(0) and Release. Contention is rare (the
/// proxy's own messages racing relayed bytes, a final error): waiters queue under a lock and the holder
/// hands the gate to the first of them on exit, in arrival order.
/// </summary>
internal sealed class AsyncGate
{
    private const int Free = 0;
    private const int Held = 1;
    // Held, and someone may be queued: the holder's exit must look at the queue.
    private const int HeldContended = 2;

    private readonly Lock _queueLock = new();
    private readonly Queue<Waiter> _waiters = new();
    private int _state;

    /// <summary>Takes the gate if it is free, without waiting.</summary>
    public bool TryEnter() => Interlocked.CompareExchange(ref _state, Held, Free) == Free;

    /// <summary>Takes the gate, waiting for it (in arrival order) if it is held.</summary>
    public Task EnterAsync(CancellationToken cancellationToken = default)
    {
        if (TryEnter()) return Task.CompletedTask;
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
        lock (_queueLock)
        {
            while (true)
            {
                var state = Volatile.Read(ref _state);
                if (state == Free)
                {
                    if (Interlocked.CompareExchange(ref _state, Held, Free) == Free) return Task.CompletedTask;
                }
                else if (state == HeldContended || Interlocked.CompareExchange(ref _state, HeldContended, Held) == Held)
                {
                    break;
                }
            }
            // The holder cannot exit past us now: its exit finds HeldContended and takes the queue lock we hold.
            var waiter = new Waiter(cancellationToken);
            _waiters.Enqueue(waiter);
            return waiter.Task;
        }
    }

    /// <summary>Gives the gate up: to the first waiter still waiting, or free.</summary>
    public void Exit()
    {
        if (Interlocked.CompareExchange(ref _state, Free, Held) == Held) return;
        lock (_queueLock)
        {
            while (_waiters.TryDequeue(out var waiter))
            {
                if (waiter.TryGrant())
                {
                    // The gate passes to the waiter without ever being free; later exits look again while any remain.
                    if (_waiters.Count == 0) Volatile.Write(ref _state, Held);
                    return;
                }
            }
            Volatile.Write(ref _state, Free);
        }
    }

    private sealed class Waiter
    {
        // Continuations run on the thread pool: never inline inside Exit, which holds the queue lock.
        private readonly TaskCompletionSource _granted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenRegistration _cancellation;

        public Waiter(CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled)
                _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!)._granted.TrySetCanceled(token), this);
        }

        public Task Task => _granted.Task;

        /// <summary>Hands the gate over; false when the wait was canceled first (the gate goes to the next one).</summary>
        public bool TryGrant()
        {
            if (!_granted.TrySetResult()) return false;
            _cancellation.Unregister();
            return true;
        }
    }
}
