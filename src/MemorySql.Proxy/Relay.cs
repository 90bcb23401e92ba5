using System.Buffers;
using System.IO.Pipelines;
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
/// One direction of a session: reads what arrived, walks the message headers, and forwards every complete
/// run of bytes with a single write per read, so a pipeline of many small messages costs one system call
/// each way. Only the 5-byte header of each message is decoded unless the inspector asks for more; large
/// messages are streamed through without being buffered whole. Nothing is allocated per message.
/// </summary>
internal sealed class Relay
{
    private readonly PipeReader _source;
    private readonly MessageSink _destination;
    private readonly IRelayInspector _inspector;
    private readonly ActivityClock? _clock;
    private long _remaining;

    public Relay(PipeReader source, MessageSink destination, IRelayInspector inspector, ActivityClock? clock = null)
    {
        _source = source;
        _destination = destination;
        _inspector = inspector;
        _clock = clock;
    }

    /// <summary>True when everything read so far ended with a complete message.</summary>
    public bool AtMessageBoundary => _remaining == 0;

    /// <summary>
    /// Relays until the source ends, the inspector stops, or <see cref="PipeReader.CancelPendingRead"/> is called.
    /// Throws <see cref="PgProtocolException"/> for a malformed message (after forwarding everything before it)
    /// and I/O exceptions when a peer goes away.
    /// </summary>
    public async Task<RelayEnd> RunAsync()
    {
        while (true)
        {
            var result = await _source.ReadAsync().ConfigureAwait(false);
            _clock?.Touch();
            var buffer = result.Buffer;
            var scan = Scan(buffer);

            if (scan.ForwardLength > 0)
                await _destination.WriteAsync(buffer.Slice(0, scan.Consumed), _remaining == 0).ConfigureAwait(false);

            switch (scan.Outcome)
            {
                case ScanOutcome.Intercept:
                {
                    var message = buffer.Slice(scan.Consumed, scan.Header.TotalLength);
                    await _inspector.InterceptAsync(scan.Header, message, _destination).ConfigureAwait(false);
                    _source.AdvanceTo(message.End);
                    continue;
                }
                case ScanOutcome.Stop:
                    _source.AdvanceTo(scan.Consumed);
                    return RelayEnd.Stopped;
                case ScanOutcome.Violation:
                    _source.AdvanceTo(scan.Consumed);
                    throw scan.Violation!;
            }

            if (result.IsCanceled)
            {
                _source.AdvanceTo(scan.Consumed, buffer.End);
                return RelayEnd.Canceled;
            }
            if (result.IsCompleted)
            {
                var leftover = buffer.Length - scan.ForwardLength;
                _source.AdvanceTo(buffer.End);
                return leftover == 0 && _remaining == 0 ? RelayEnd.SourceClosed : RelayEnd.SourceClosedMidMessage;
            }
            _source.AdvanceTo(scan.Consumed, buffer.End);
        }
    }

    private enum ScanOutcome
    {
        ReadMore,
        Intercept,
        Stop,
        Violation,
    }

    private readonly record struct ScanResult(SequencePosition Consumed, long ForwardLength, ScanOutcome Outcome, MessageHeader Header = default, PgProtocolException? Violation = null);

    private ScanResult Scan(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        Span<byte> headerBytes = stackalloc byte[MessageHeader.Size];
        while (!reader.End)
        {
            if (_remaining > 0)
            {
                var take = Math.Min(_remaining, reader.Remaining);
                reader.Advance(take);
                _remaining -= take;
                continue;
            }
            if (!reader.TryCopyTo(headerBytes)) break;
            MessageHeader.TryRead(headerBytes, out var header);
            MessageAction action;
            try
            {
                action = _inspector.OnHeader(header);
            }
            catch (PgProtocolException e)
            {
                return new ScanResult(reader.Position, reader.Consumed, ScanOutcome.Violation, header, e);
            }
            if (action != MessageAction.Forward)
            {
                if (reader.Remaining < header.TotalLength) break;
                if (action == MessageAction.Intercept)
                    return new ScanResult(reader.Position, reader.Consumed, ScanOutcome.Intercept, header);
                try
                {
                    if (_inspector.Inspect(header, buffer.Slice(reader.Position, header.TotalLength)))
                        return new ScanResult(reader.Position, reader.Consumed, ScanOutcome.Intercept, header);
                }
                catch (PgProtocolException e)
                {
                    return new ScanResult(reader.Position, reader.Consumed, ScanOutcome.Violation, header, e);
                }
                if (action == MessageAction.ForwardAndStop)
                {
                    reader.Advance(header.TotalLength);
                    return new ScanResult(reader.Position, reader.Consumed, ScanOutcome.Stop, header);
                }
            }
            _remaining = header.TotalLength;
        }
        return new ScanResult(reader.Position, reader.Consumed, ScanOutcome.ReadMore);
    }
}

/// <summary>When a session last moved a byte; read by the idle-timeout sweep.</summary>
internal sealed class ActivityClock
{
    private long _lastTicks = Environment.TickCount64;

    public long LastTicks => Volatile.Read(ref _lastTicks);

    public void Touch() => Volatile.Write(ref _lastTicks, Environment.TickCount64);
}
