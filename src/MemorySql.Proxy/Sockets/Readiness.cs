using System.Threading.Tasks.Sources;

namespace MemorySql.Proxy.Sockets;

/// <summary>
/// One direction's readiness of a socket (readable or writable) as the epoll loop reports it, and the one
/// operation that may wait for it. Every event bumps <see cref="Version"/>; an operation remembers the version
/// before its system call and, when that call would block, waits for a newer one — so an event that arrives
/// between the call and the wait is never lost. The waiter's continuation runs inline on the loop thread
/// (like .NET's inline socket completions): the relay never blocks, so that is safe and saves a thread switch.
/// Allocation-free and lock-free per wait: the loop signals both directions on most events (a readable socket
/// is reported writable too), so a lock here would be taken several times per relayed message.
/// </summary>
internal sealed class Readiness : IValueTaskSource, IValueTaskSource<int>
{
    private const int Idle = 0;
    private const int Waiting = 1;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };
    private CancellationTokenRegistration _cancellation;
    private long _version;
    // Waiting while an operation waits; whoever moves it back to Idle (event, close, cancel, or the waiter
    // itself on seeing a newer version) completes or withdraws the wait, exactly once.
    private int _state;
    private volatile bool _closed;

    public long Version => Volatile.Read(ref _version);

    /// <summary>True once the socket is closed: operations must not touch it any more.</summary>
    public bool IsClosed => _closed;

    /// <summary>Called by the loop for every event of this direction.</summary>
    public void Signal()
    {
        // Increment, then read the state (both full fences) — the waiter writes its state, then reads the version:
        // at least one of the two sees the other, so a wait never misses an event.
        Interlocked.Increment(ref _version);
        if (Volatile.Read(ref _state) == Waiting && Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            Complete();
    }

    /// <summary>Completes once an event newer than <paramref name="observed"/> has arrived (at once if one has).</summary>
    public ValueTask WaitAsync(long observed, CancellationToken cancellationToken) =>
        Wait(observed, cancellationToken) is { } token ? new ValueTask(this, token) : ValueTask.CompletedTask;

    /// <summary>The same wait as the result of a zero-byte read (0), so the stream needs no state machine of its own for it.</summary>
    public ValueTask<int> WaitForZeroByteReadAsync(long observed, CancellationToken cancellationToken) =>
        Wait(observed, cancellationToken) is { } token ? new ValueTask<int>(this, token) : new ValueTask<int>(0);

    /// <summary>Starts waiting and returns the token of the wait, or null when there is nothing to wait for.</summary>
    private short? Wait(long observed, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Volatile.Read(ref _version) != observed || _closed) return null;
        if (Volatile.Read(ref _state) == Waiting)
            throw new InvalidOperationException("another operation is already waiting on this socket in the same direction");
        _core.Reset();
        var token = _core.Version;
        // Registered before the wait is published, so whoever completes it unregisters this registration.
        _cancellation = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, ct) => ((Readiness)state!).Cancel(ct), this)
            : default;
        Interlocked.Exchange(ref _state, Waiting);
        if (Volatile.Read(ref _version) != observed || _closed || cancellationToken.IsCancellationRequested)
        {
            // An event, a close or a cancel came meanwhile: withdraw the wait, unless someone already completed it.
            if (Interlocked.CompareExchange(ref _state, Idle, Waiting) != Waiting) return token;
            _cancellation.Unregister();
            cancellationToken.ThrowIfCancellationRequested();
            return null;
        }
        return token;
    }

    /// <summary>Wakes a waiter for good: the socket is being closed.</summary>
    public void Close()
    {
        _closed = true;
        Signal();
    }

    private void Complete()
    {
        _cancellation.Unregister();
        _core.SetResult(true);
    }

    private void Cancel(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) != Waiting) return;
        _core.SetException(new OperationCanceledException(cancellationToken));
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    int IValueTaskSource<int>.GetResult(short token)
    {
        _core.GetResult(token);
        return 0;
    }

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
