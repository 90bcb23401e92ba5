using System.Threading.Tasks.Sources;

namespace MemorySql.Proxy.Sockets;

/// <summary>
/// One direction's readiness of a socket (readable or writable) as the epoll loop reports it, and the one
/// operation that may wait for it. Every event bumps <see cref="Version"/>; an operation remembers the version
/// before its system call and, when that call would block, waits for a newer one — so an event that arrives
/// between the call and the wait is never lost. The waiter's continuation runs inline on the loop thread
/// (like .NET's inline socket completions): the relay never blocks, so that is safe and saves a thread switch.
/// Allocation-free per wait.
/// </summary>
internal sealed class Readiness : IValueTaskSource, IValueTaskSource<int>
{
    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };
    private CancellationTokenRegistration _cancellation;
    private long _version;
    private bool _waiting;
    private bool _closed;

    public long Version => Volatile.Read(ref _version);

    /// <summary>True once the socket is closed: operations must not touch it any more.</summary>
    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>Called by the loop for every event of this direction.</summary>
    public void Signal()
    {
        lock (_gate)
        {
            _version++;
            if (!_waiting) return;
            _waiting = false;
        }
        _cancellation.Unregister();
        _core.SetResult(true);
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
        short token;
        lock (_gate)
        {
            if (_version != observed || _closed) return null;
            if (_waiting) throw new InvalidOperationException("another operation is already waiting on this socket in the same direction");
            _core.Reset();
            _waiting = true;
            token = _core.Version;
        }
        if (cancellationToken.CanBeCanceled)
            _cancellation = cancellationToken.UnsafeRegister(static (state, ct) => ((Readiness)state!).Cancel(ct), this);
        return token;
    }

    /// <summary>Wakes a waiter for good: the socket is being closed.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            _version++;
            if (!_waiting) return;
            _waiting = false;
        }
        _cancellation.Unregister();
        _core.SetResult(true);
    }

    private void Cancel(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_waiting) return;
            _waiting = false;
        }
        _core.SetException(new OperationCanceledException(cancellationToken));
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    int IValueTaskSource<int>.GetResult(short token)
    {
        _core.GetResult(token);
        return 0;
    }

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
