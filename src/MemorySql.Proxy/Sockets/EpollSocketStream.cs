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

    /// <summary>Waits until a non-blocking connect finished (the socket became writable).</summary>
    public ValueTask WaitWritableAsync(long observed, CancellationToken cancellationToken) => _writable.WaitAsync(observed, cancellationToken);

    public long WritableVersion => _writable.Version;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_readable.IsClosed, this);
            var observed = _readable.Version;
            if (buffer.Length == 0)
            {
                // A zero-byte read (PipeReader's way of waiting without holding a buffer): no system call when the
                // last read drained the socket and no edge came since.
                if (Volatile.Read(ref _drainedAt) != observed || _hungUp) return 0;
                await _readable.WaitAsync(observed, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var received = EpollInterop.recv(_handle, ref MemoryMarshal.GetReference(buffer.Span), buffer.Length, EpollInterop.MsgDontWait);
            if (received >= 0)
            {
                // A short read emptied the socket's queue: data arriving later raises a new edge.
                Volatile.Write(ref _drainedAt, received < buffer.Length ? observed : -1);
                return (int)received;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EpollInterop.Eintr) continue;
            if (errno != EpollInterop.Eagain) throw Failure("receive", errno);
            Volatile.Write(ref _drainedAt, observed);
            await _readable.WaitAsync(observed, cancellationToken).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            ObjectDisposedException.ThrowIf(_writable.IsClosed, this);
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
            if (errno != EpollInterop.Eagain) throw Failure("send", errno);
            await _writable.WaitAsync(observed, cancellationToken).ConfigureAwait(false);
        }
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
