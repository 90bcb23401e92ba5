using System.Buffers;
using MemorySql.Protocol;

namespace MemorySql.Proxy;

/// <summary>What the relay does with a message, decided from its 5-byte header alone.</summary>
internal enum MessageAction
{
    /// <summary>Pass the bytes through as they come, without waiting for the whole message.</summary>
    Forward,
    /// <summary>Wait for the whole message, show it to <see cref="IRelayInspector.Inspect"/>, then pass it through.</summary>
    ForwardWhole,
    /// <summary>Wait for the whole message, pass it through, then stop relaying (Terminate).</summary>
    ForwardAndStop,
    /// <summary>Wait for the whole message and let <see cref="IRelayInspector.InterceptAsync"/> send something else instead.</summary>
    Intercept,
}

/// <summary>How a relay loop ended.</summary>
internal enum RelayEnd
{
    /// <summary>The source closed between two messages.</summary>
    SourceClosed,
    /// <summary>The source closed in the middle of a message.</summary>
    SourceClosedMidMessage,
    /// <summary>The inspector asked to stop (the client sent Terminate).</summary>
    Stopped,
    /// <summary>The session stopped the loop.</summary>
    Canceled,
}

/// <summary>The per-direction policy of a relay: which messages to look at and what they mean.</summary>
internal interface IRelayInspector
{
    /// <summary>Validates a header (throws <see cref="PgProtocolException"/>) and says what to do with the message.</summary>
    MessageAction OnHeader(in MessageHeader header);

    /// <summary>Looks at a whole message; returns true to take it over (<see cref="InterceptAsync"/>) instead of forwarding it.</summary>
    bool Inspect(in MessageHeader header, in ReadOnlySequence<byte> message);

    /// <summary>Sends whatever replaces a whole message (which is not forwarded itself).</summary>
    ValueTask InterceptAsync(MessageHeader header, ReadOnlySequence<byte> message, MessageSink destination);
}

/// <summary>
/// One direction of a session: receives what arrived into one buffer, walks the message headers, and forwards
/// every complete run of bytes with a single write per read, so a pipeline of many small messages costs one
/// system call each way. Only the 5-byte header of each message is decoded unless the inspector asks for more;
/// large messages are streamed through without being buffered whole. Nothing is allocated per message, and an
/// idle direction holds no buffer (it waits with a zero-byte read and rents one from the pool when bytes come).
/// With the epoll engine the receive and the send complete synchronously whenever the socket allows, so the
/// loop suspends only to wait for the next readable edge.
/// </summary>
internal sealed class Relay
{
    /// <summary>The buffer rented when bytes arrive; a message that must be seen whole and is larger gets a larger one.</summary>
    internal const int BufferSize = 16 * 1024;

    /// <summary>Room below which the unread bytes are moved to the front before receiving more.</summary>
    private const int MinimumReceive = 4 * 1024;

    private readonly Stream _source;
    private readonly MessageSink _destination;
    private readonly IRelayInspector _inspector;
    private readonly ActivityClock? _clock;
    private byte[]? _buffer;
    // Received bytes not yet forwarded or consumed: _buffer[_start.._end).
    private int _start;
    private int _end;
    // Bytes of a message being streamed through that have not arrived yet.
    private long _remaining;
    // Length of the message at _start that must be seen whole and has not arrived whole yet (0: none).
    private long _wholeNeeded;

    /// <param name="buffered">Bytes already read from <paramref name="source"/> (by the startup phase) to relay first.</param>
    public Relay(Stream source, MessageSink destination, IRelayInspector inspector, ActivityClock? clock = null, ReadOnlySequence<byte> buffered = default)
    {
        _source = source;
        _destination = destination;
        _inspector = inspector;
        _clock = clock;
        if (!buffered.IsEmpty)
        {
            _buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(BufferSize, buffered.Length));
            buffered.CopyTo(_buffer);
            _end = (int)buffered.Length;
        }
    }

    /// <summary>True when nothing of a message is pending: everything received so far ended with a complete message.</summary>
    public bool AtMessageBoundary => _remaining == 0 && _start == _end;

    /// <summary>
    /// Relays until the source ends, the inspector stops, or <paramref name="stop"/> is canceled (between two
    /// receives; a write under way finishes). Throws <see cref="PgProtocolException"/> for a malformed message
    /// (after forwarding everything before it) and I/O exceptions when a peer goes away.
    /// </summary>
    public async Task<RelayEnd> RunAsync(CancellationToken stop = default)
    {
        // With the epoll engine a stop ends the socket's reads once, instead of being registered with every wait.
        var epoll = _source as Sockets.EpollSocketStream;
        using var stopReads = epoll is null ? default : stop.UnsafeRegister(static s => ((Sockets.EpollSocketStream)s!).CancelReads(), epoll);
        var readToken = epoll is null ? stop : CancellationToken.None;
        try
        {
            // Bytes handed over by the startup phase are relayed before anything is received.
            var received = _end > 0;
            while (true)
            {
                if (!received)
                {
                    if (stop.IsCancellationRequested) return RelayEnd.Canceled;
                    if (_start == _end)
                    {
                        // Idle between messages: give the buffer back and wait for bytes without one. With the epoll
                        // engine this costs no system call (the last short read left the socket drained).
                        _start = _end = 0;
                        ReturnBuffer();
                        await _source.ReadAsync(Memory<byte>.Empty, readToken).ConfigureAwait(false);
                        if (stop.IsCancellationRequested) return RelayEnd.Canceled;
                        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                    }
                    else if (_buffer!.Length - _end < MinimumReceive || _end - _start < _wholeNeeded)
                    {
                        MakeRoom();
                    }
                    var count = await _source.ReadAsync(_buffer.AsMemory(_end), readToken).ConfigureAwait(false);
                    if (count == 0)
                        return _start == _end && _remaining == 0 ? RelayEnd.SourceClosed : RelayEnd.SourceClosedMidMessage;
                    _end += count;
                    _clock?.Touch();
                }
                received = false;

                var scan = Scan();
                if (scan.Length > 0)
                {
                    await _destination.WriteAsync(_buffer.AsMemory(_start, scan.Length), _remaining == 0).ConfigureAwait(false);
                    _start += scan.Length;
                }
                switch (scan.Outcome)
                {
                    case ScanOutcome.Intercept:
                    {
                        var length = (int)scan.Header.TotalLength;
                        var message = new ReadOnlySequence<byte>(_buffer!, _start, length);
                        await _inspector.InterceptAsync(scan.Header, message, _destination).ConfigureAwait(false);
                        _start += length;
                        // More whole messages may be waiting in the buffer: scan again before receiving.
                        received = _start < _end;
                        break;
                    }
                    case ScanOutcome.Stop:
                        return RelayEnd.Stopped;
                    case ScanOutcome.Violation:
                        throw scan.Violation!;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return RelayEnd.Canceled;
        }
        finally
        {
            ReturnBuffer();
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }

    /// <summary>Moves the unread bytes to the front; grows the buffer when a message that must be seen whole does not fit.</summary>
    private void MakeRoom()
    {
        var pending = _end - _start;
        var needed = Math.Max(pending + MinimumReceive, _wholeNeeded);
        if (needed > _buffer!.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent((int)Math.Max(needed, 2L * _buffer.Length));
            _buffer.AsSpan(_start, pending).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        else if (_start > 0)
        {
            _buffer.AsSpan(_start, pending).CopyTo(_buffer);
        }
        _start = 0;
        _end = pending;
    }

    private enum ScanOutcome
    {
        ReadMore,
        Intercept,
        Stop,
        Violation,
    }

    /// <summary>
    /// What to do with the bytes at <c>_start</c>: forward the first <see cref="Length"/> of them, then do
    /// <see cref="Outcome"/> with the message that follows (whose header is <see cref="Header"/>).
    /// </summary>
    private readonly record struct ScanResult(int Length, ScanOutcome Outcome, MessageHeader Header = default, PgProtocolException? Violation = null);

    private ScanResult Scan()
    {
        var data = _buffer.AsSpan(_start, _end - _start);
        var position = 0;
        _wholeNeeded = 0;
        while (position < data.Length)
        {
            if (_remaining > 0)
            {
                var take = (int)Math.Min(_remaining, data.Length - position);
                position += take;
                _remaining -= take;
                continue;
            }
            if (!MessageHeader.TryRead(data[position..], out var header)) break;
            MessageAction action;
            try
            {
                action = _inspector.OnHeader(header);
            }
            catch (PgProtocolException e)
            {
                return new ScanResult(position, ScanOutcome.Violation, header, e);
            }
            if (action != MessageAction.Forward)
            {
                if (data.Length - position < header.TotalLength)
                {
                    _wholeNeeded = header.TotalLength;
                    break;
                }
                if (action == MessageAction.Intercept)
                    return new ScanResult(position, ScanOutcome.Intercept, header);
                try
                {
                    if (_inspector.Inspect(header, new ReadOnlySequence<byte>(_buffer!, _start + position, (int)header.TotalLength)))
                        return new ScanResult(position, ScanOutcome.Intercept, header);
                }
                catch (PgProtocolException e)
                {
                    return new ScanResult(position, ScanOutcome.Violation, header, e);
                }
                if (action == MessageAction.ForwardAndStop)
                    return new ScanResult(position + (int)header.TotalLength, ScanOutcome.Stop, header);
            }
            _remaining = header.TotalLength;
        }
        return new ScanResult(position, ScanOutcome.ReadMore);
    }
}

/// <summary>
/// Whether a session moved bytes, for the idle-timeout sweep. The relays only bump a counter (reading the clock
/// on every receive cost more than the rest of the bookkeeping per message); the sweep notes when it last saw
/// the counter change.
/// </summary>
internal sealed class ActivityClock
{
    private int _activity;
    // Owned by the sweep (one thread): the counter it saw last and when it saw it change.
    private int _seen;
    private long _quietSince = Environment.TickCount64;

    /// <summary>Called by the relays on every receive.</summary>
    public void Touch() => Interlocked.Increment(ref _activity);

    /// <summary>Milliseconds since the sweep first saw the counter as it is now; called by the sweep only.</summary>
    public long QuietFor(long now)
    {
        var activity = Volatile.Read(ref _activity);
        if (activity != _seen)
        {
            _seen = activity;
            _quietSince = now;
        }
        return now - _quietSince;
    }
}
