using System.Buffers;
using MemorySql.Protocol;

namespace MemorySql.Proxy;

/// <summary>
/// Client → upstream: validates every header (known type, sane length, under the size limit) so a broken
/// client is stopped at the proxy with 08P01, and stops after Terminate.
/// </summary>
internal sealed class FrontendInspector : IRelayInspector
{
    private readonly int _maxMessageSize;

    public FrontendInspector(int maxMessageSize) => _maxMessageSize = maxMessageSize;

    public MessageAction OnHeader(in MessageHeader header)
    {
        if (!FrontendCode.IsKnown(header.Type))
            throw new PgProtocolException($"invalid frontend message type {header.Type}");
        if (header.Length < 4)
            throw new PgProtocolException($"invalid message length {header.Length} for message type '{(char)header.Type}'");
        if (header.PayloadLength > _maxMessageSize)
            throw new PgProtocolException(
                $"message of type '{(char)header.Type}' is {header.PayloadLength} bytes, more than the limit of {_maxMessageSize} bytes (Proxy:Limits:MaxMessageSize)");
        return header.Type == FrontendCode.Terminate ? MessageAction.ForwardAndStop : MessageAction.Forward;
    }

    public void Inspect(in MessageHeader header, in ReadOnlySequence<byte> message) { }

    public ValueTask InterceptAsync(MessageHeader header, ReadOnlySequence<byte> message, MessageSink destination) =>
        throw new NotSupportedException("the frontend relay intercepts nothing yet");
}

/// <summary>
/// Upstream → client: validates headers (a malformed server message ends the session with an error rather than
/// garbling the client's stream) and keeps the transaction status from ReadyForQuery.
/// </summary>
internal sealed class BackendInspector : IRelayInspector
{
    private readonly int _upstreamProcessId;
    private readonly int _clientProcessId;
    private byte _lastType;

    /// <param name="upstreamProcessId">The upstream backend's pid (0 when unknown).</param>
    /// <param name="clientProcessId">The pid the client was given in BackendKeyData.</param>
    public BackendInspector(int upstreamProcessId = 0, int clientProcessId = 0)
    {
        _upstreamProcessId = upstreamProcessId;
        _clientProcessId = clientProcessId;
    }

    /// <summary>The status of the last ReadyForQuery.</summary>
    public TransactionStatus TransactionStatus { get; private set; } = TransactionStatus.Idle;

    /// <summary>The type of the last message that started (ErrorResponse before a close means the server said why).</summary>
    public byte LastMessageType => _lastType;

    public MessageAction OnHeader(in MessageHeader header)
    {
        if (!BackendCode.IsKnown(header.Type))
            throw new PgProtocolException($"the upstream server sent a message of unknown type {header.Type}");
        if (header.Length < 4 || header.Length > ProxyLimits.PostgresMaxMessageSize)
            throw new PgProtocolException($"the upstream server sent a message of type '{(char)header.Type}' with an invalid length {header.Length}");
        _lastType = header.Type;
        return header.Type switch
        {
            BackendCode.ReadyForQuery => MessageAction.ForwardWhole,
            // A notification names the sending backend; the session's own upstream pid is shown to the client as
            // the pid it got in BackendKeyData, so "was this my own NOTIFY?" checks keep working.
            BackendCode.NotificationResponse when _upstreamProcessId != 0 && header.PayloadLength >= 4 => MessageAction.Intercept,
            _ => MessageAction.Forward,
        };
    }

    public void Inspect(in MessageHeader header, in ReadOnlySequence<byte> message)
    {
        if (header.Type == BackendCode.ReadyForQuery)
        {
            if (header.PayloadLength != 1)
                throw new PgProtocolException($"the upstream server sent a ReadyForQuery message of {header.PayloadLength} bytes");
            var status = (TransactionStatus)message.Slice(MessageHeader.Size, 1).FirstSpan[0];
            if (status is not (TransactionStatus.Idle or TransactionStatus.InTransaction or TransactionStatus.Failed))
                throw new PgProtocolException($"the upstream server sent ReadyForQuery with an unknown status {(byte)status}");
            TransactionStatus = status;
        }
    }

    public ValueTask InterceptAsync(MessageHeader header, ReadOnlySequence<byte> message, MessageSink destination)
    {
        // Notifications are rare: a copy is fine here.
        var bytes = message.ToArray();
        var pid = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(MessageHeader.Size));
        if (pid == _upstreamProcessId)
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(MessageHeader.Size), _clientProcessId);
        return destination.WriteAsync(new ReadOnlySequence<byte>(bytes), endsAtBoundary: true);
    }
}
