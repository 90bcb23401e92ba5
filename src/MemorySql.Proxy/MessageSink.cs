using System.Runtime.CompilerServices;

namespace MemorySql.Proxy;

/// <summary>
/// The write side of one connection. Relayed bytes and the proxy's own messages go through it one writer at
/// a time, and it remembers whether the last write ended between two messages, so the proxy never puts a
/// message of its own into the middle of a relayed one.
/// </summary>
internal sealed class MessageSink
{
    private readonly Stream _stream;
    private readonly AsyncGate _lock = new();
    private volatile bool _atBoundary = true;
    private volatile bool _broken;

    public MessageSink(Stream stream) => _stream = stream;

    /// <summary>True when everything written so far ends with a complete message.</summary>
    public bool AtMessageBoundary => _atBoundary;

    /// <summary>True after a write failed (the peer is gone).</summary>
    public bool IsBroken => _broken;

    /// <summary>
    /// Writes relayed bytes; <paramref name="endsAtBoundary"/> says whether the last message is complete. When no
    /// other write is under way and the stream takes the bytes at once (the epoll engine's send), this completes
    /// synchronously without an async state machine: the relay's path for almost every message.
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, bool endsAtBoundary) =>
        _lock.TryEnter() ? WriteHoldingLock(data, endsAtBoundary) : WriteWhenFreeAsync(data, endsAtBoundary);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteWhenFreeAsync(ReadOnlyMemory<byte> data, bool endsAtBoundary)
    {
        await _lock.EnterAsync().ConfigureAwait(false);
        await WriteHoldingLock(data, endsAtBoundary).ConfigureAwait(false);
    }

    /// <summary>Starts the write with the lock held; releases it at once when the stream took the bytes synchronously.</summary>
    private ValueTask WriteHoldingLock(ReadOnlyMemory<byte> data, bool endsAtBoundary)
    {
        ValueTask write;
        try
        {
            write = _stream.WriteAsync(data);
        }
        catch
        {
            _broken = true;
            _lock.Exit();
            throw;
        }
        if (!write.IsCompletedSuccessfully) return FinishWriteAsync(write, endsAtBoundary);
        write.GetAwaiter().GetResult();
        _atBoundary = endsAtBoundary;
        _lock.Exit();
        return ValueTask.CompletedTask;
    }

    /// <summary>Waits for a write started under the lock, records the boundary, and releases the lock.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FinishWriteAsync(ValueTask write, bool endsAtBoundary)
    {
        try
        {
            await write.ConfigureAwait(false);
            _atBoundary = endsAtBoundary;
        }
        catch
        {
            _broken = true;
            throw;
        }
        finally
        {
            _lock.Exit();
        }
    }

    /// <summary>Writes complete messages of the proxy's own.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteMessagesAsync(ReadOnlyMemory<byte> messages, CancellationToken cancellationToken = default)
    {
        await _lock.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(messages, cancellationToken).ConfigureAwait(false);
            _atBoundary = true;
        }
        catch
        {
            _broken = true;
            throw;
        }
        finally
        {
            _lock.Exit();
        }
    }

    /// <summary>
    /// Writes a last message (an error before closing) only if the stream stands between two messages and is
    /// still usable; returns whether it was written. Never throws: the connection is being closed anyway.
    /// </summary>
    public async ValueTask<bool> TryWriteFinalAsync(ReadOnlyMemory<byte> messages, TimeSpan timeout)
    {
        if (_broken) return false;
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _lock.EnterAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        try
        {
            if (!_atBoundary || _broken) return false;
            await _stream.WriteAsync(messages, cts.Token).ConfigureAwait(false);
            await _stream.FlushAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            _broken = true;
            return false;
        }
        finally
        {
            _lock.Exit();
        }
    }
}
