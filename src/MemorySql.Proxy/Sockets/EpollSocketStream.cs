using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MemorySql.Proxy.Sockets;

/// <summary>
/// A connected socket driven by an <see cref="EpollLoop"/> instead of .NET's socket engine, so that a relayed
/// message costs what it costs PgBouncer: one wake-up shared by every socket that became ready, one recv and
/// one send. .NET's engine retries recv after every read until it fails with EAGAIN (one wasted system call per
/// message each way) and spreads sockets over several event threads; here a read that came back short marks
/// the socket drained, and the next read waits for the loop's edge without a system call. The socket must never
/// be used with .NET's asynchronous socket methods, which would register it with .NET's engine as well.
/// </summary>
internal sealed class EpollSocketStream : Stream
{
    private readonly Socket _socket;
    private readonly SafeSocketHandle _handle;
    private readonly EpollLoop _loop;
    private readonly Readiness _readable = new();
    private readonly Readiness _writable = new();
    private readonly int _slot;
    // The readable version at which a read came back short or failed with EAGAIN: nothing more to read until a
    // newer edge. -1: unknown, try.
    private long _drainedAt = -1;
    // The peer closed its side (or the socket failed): its FIN may sit behind data that a short read returned,
    // with no edge left to announce it, so reads never count as drained again and recv reports the end.
    private volatile bool _hungUp;
    // Set by CancelReads: every read from then on ends with OperationCanceledException.
    private volatile bool _readsCanceled;
    private int _disposed;

    public EpollSocketStream(Socket socket, EpollLoop loop)
    {
        _socket = socket;
        _handle = socket.SafeHandle;
        _loop = loop;
        _slot = loop.Register(this, _handle);
    }

    public Socket Socket => _socket;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Called on the loop thread.</summary>
    internal void OnEvents(uint events)
    {
        if ((events & (EpollInterop.EpollRdHup | EpollInterop.EpollHup | EpollInterop.EpollErr)) != 0) _hungUp = true;
        if ((events & (EpollInterop.EpollIn | EpollInterop.EpollRdHup | EpollInterop.EpollHup | EpollInterop.EpollErr)) != 0) _readable.Signal();
        if ((events & (EpollInterop.EpollOut | EpollInterop.EpollHup | EpollInterop.EpollErr)) != 0) _writable.Signal();
    }

    /// <summary>
    /// Ends the read waiting now and every later one with <see cref="OperationCanceledException"/> (a zero-byte
    /// read waiting now completes with 0). A relay's stop, registered once for the relay instead of with every
    /// wait for the next message.
    /// </summary>
    public void CancelReads()
    {
        _readsCanceled = true;
        _readable.Signal();
    }

    /// <summary>Waits until a non-blocking connect finished (the socket became writable).</summary>
    public ValueTask WaitWritableAsync(long observed, CancellationToken cancellationToken) => _writable.WaitAsync(observed, cancellationToken);

    public long WritableVersion => _writable.Version;

    /// <summary>How many readable events the loop has reported (tests wait for an edge with it).</summary>
    internal long ReadableVersion => _readable.Version;

    /// <summary>
    /// Receives what the socket holds, synchronously when it holds something (no state machine, no wait); a
    /// zero-byte read completes when bytes may be there, waiting for the loop's edge only when the last read
    /// drained the socket.
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_readable.IsClosed) return ValueTask.FromException<int>(new ObjectDisposedException(GetType().FullName));
            if (_readsCanceled) return ValueTask.FromCanceled<int>(new CancellationToken(canceled: true));
            var observed = _readable.Version;
            if (buffer.Length == 0)
            {
                // PipeReader's and the relay's way of waiting without holding a buffer: no system call when the last
                // read drained the socket and no edge came since, and no state machine either (the loop completes
                // the wait itself).
                if (Volatile.Read(ref _drainedAt) != observed || _hungUp) return new ValueTask<int>(0);
                return _readable.WaitForZeroByteReadAsync(observed, cancellationToken);
            }
            var received = EpollInterop.recv(_handle, ref MemoryMarshal.GetReference(buffer.Span), buffer.Length, EpollInterop.MsgDontWait);
            if (received >= 0)
            {
                // A short read emptied the socket's queue: data arriving later raises a new edge.
                Volatile.Write(ref _drainedAt, received < buffer.Length ? observed : -1);
                return new ValueTask<int>((int)received);
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EpollInterop.Eintr) continue;
            if (errno != EpollInterop.Eagain) return ValueTask.FromException<int>(Failure("receive", errno));
            Volatile.Write(ref _drainedAt, observed);
            return ReadWhenReadableAsync(buffer, observed, cancellationToken);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadWhenReadableAsync(Memory<byte> buffer, long observed, CancellationToken cancellationToken)
    {
        await _readable.WaitAsync(observed, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends everything, synchronously while the socket takes it; waits for writable edges only when its buffer is full.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            if (_writable.IsClosed) return ValueTask.FromException(new ObjectDisposedException(GetType().FullName));
            var observed = _writable.Version;
            var sent = EpollInterop.send(_handle, ref MemoryMarshal.GetReference(buffer.Span), buffer.Length,
                EpollInterop.MsgDontWait | EpollInterop.MsgNoSignal);
            if (sent >= 0)
            {
                buffer = buffer[(int)sent..];
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EpollInterop.Eintr) continue;
            if (errno != EpollInterop.Eagain) return ValueTask.FromException(Failure("send", errno));
            return WriteWhenWritableAsync(buffer, observed, cancellationToken);
        }
        return ValueTask.CompletedTask;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteWhenWritableAsync(ReadOnlyMemory<byte> buffer, long observed, CancellationToken cancellationToken)
    {
        await _writable.WaitAsync(observed, cancellationToken).ConfigureAwait(false);
        await WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Synchronous I/O would block whichever thread calls it, possibly the loop itself; nothing in the proxy uses it.
    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("the proxy's sockets are asynchronous only");

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("the proxy's sockets are asynchronous only");

    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _readable.Close();
            _writable.Close();
            _loop.Unregister(_slot, _handle);
            _socket.Dispose();
        }
        base.Dispose(disposing);
    }

    private static IOException Failure(string operation, int errno)
    {
        var error = EpollInterop.ToSocketError(errno);
        var inner = new SocketException((int)error);
        return new IOException($"Unable to {operation} on the socket: {inner.Message}", inner);
    }
}
