using System.Buffers;
using MemorySql.Protocol;
using MemorySql.Proxy.Rewriting;

namespace MemorySql.Proxy;

/// <summary>
/// Client → upstream: validates every header (known type, sane length, under the size limit) so a broken
/// client is stopped at the proxy with 08P01, and stops after Terminate.
/// </summary>
internal sealed class FrontendInspector : IRelayInspector
{
    private readonly int _maxMessageSize;
    private readonly RewriteSession? _rewrite;

    public FrontendInspector(int maxMessageSize, RewriteSession? rewrite = null)
    {
        _maxMessageSize = maxMessageSize;
        _rewrite = rewrite;
    }

    private volatile bool _sawTerminate;

    /// <summary>True once the client sent Terminate: the upstream closing after that is the expected end, not a loss.</summary>
    public bool SawTerminate => _sawTerminate;

    public MessageAction OnHeader(in MessageHeader header)
    {
        if (!FrontendCode.IsKnown(header.Type))
            throw new PgProtocolException($"invalid frontend message type {header.Type}");
        if (header.Length < 4)
            throw new PgProtocolException($"invalid message length {header.Length} for message type '{(char)header.Type}'");
        if (header.PayloadLength > _maxMessageSize)
            throw new PgProtocolException(
                $"message of type '{(char)header.Type}' is {header.PayloadLength} bytes, more than the limit of {_maxMessageSize} bytes (Proxy:Limits:MaxMessageSize)");
        if (header.Type == FrontendCode.Terminate)
        {
            _sawTerminate = true;
            return MessageAction.ForwardAndStop;
        }
        if (_rewrite is null) return MessageAction.Forward;
        var action = header.Type switch
        {
            FrontendCode.Query or FrontendCode.Parse or FrontendCode.Sync or FrontendCode.Describe or FrontendCode.Close => MessageAction.ForwardWhole,
            FrontendCode.Bind when _rewrite.HasRewrittenStatements => MessageAction.ForwardWhole,
            _ => MessageAction.Forward,
        };
        // A message forwarded as it streams is seen here exactly once: count the response it is owed.
        if (action == MessageAction.Forward) _rewrite.CountSent(header.Type);
        return action;
    }

    public bool Inspect(in MessageHeader header, in ReadOnlySequence<byte> message)
    {
        if (_rewrite is null) return false;
        var span = message.IsSingleSegment ? message.FirstSpan : message.ToArray();
        switch (header.Type)
        {
            case FrontendCode.Query:
            case FrontendCode.Parse:
                if (_rewrite.MightRewrite(header.Type, span)) return true;
                _rewrite.OnForwarded(header.Type, span);
                return false;
            case FrontendCode.Bind:
                if (_rewrite.IsRewrittenBind(span)) return true;
                _rewrite.CountSent(header.Type);
                return false;
            default:
                _rewrite.OnForwarded(header.Type, span);
                return false;
        }
    }

    public async ValueTask InterceptAsync(MessageHeader header, ReadOnlySequence<byte> message, MessageSink destination)
    {
        var bytes = message.ToArray(); // the rewrite path only: the message is about to be replaced
        var replacement = header.Type switch
        {
            FrontendCode.Query => await _rewrite!.RewriteQueryAsync(bytes, destination).ConfigureAwait(false),
            FrontendCode.Parse => await _rewrite!.RewriteParseAsync(bytes).ConfigureAwait(false),
            FrontendCode.Bind => await _rewrite!.RewriteBindAsync(bytes, destination).ConfigureAwait(false),
            _ => bytes,
        };
        await destination.WriteAsync(replacement, endsAtBoundary: true).ConfigureAwait(false);
    }
}

/// <summary>
/// Upstream → client: validates headers (a malformed server message ends the session with an error rather than
/// garbling the client's stream) and keeps the transaction status from ReadyForQuery.
/// </summary>
internal sealed class BackendInspector : IRelayInspector
{
    private readonly int _upstreamProcessId;
    private readonly int _clientProcessId;
    private readonly RewriteSession? _rewrite;
    private byte _lastType;
    private int _hide;
    private bool _captured;

    /// <param name="upstreamProcessId">The upstream backend's pid (0 when unknown).</param>
    /// <param name="clientProcessId">The pid the client was given in BackendKeyData.</param>
    /// <param name="rewrite">The session's memory-call rewrite, when embeddings are configured.</param>
    public BackendInspector(int upstreamProcessId = 0, int clientProcessId = 0, RewriteSession? rewrite = null)
    {
        _upstreamProcessId = upstreamProcessId;
        _clientProcessId = clientProcessId;
        _rewrite = rewrite;
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
        _captured = false;
        if (_rewrite is { TracksResponses: true } rewrite)
        {
            // Responses to a statement of the proxy's own are taken out of the stream (notices, parameter status and
            // notifications still reach the client); completion responses and errors are counted to know when it starts.
            if (header.Type is not (BackendCode.NoticeResponse or BackendCode.ParameterStatus or BackendCode.NotificationResponse) && rewrite.IsCapturing)
            {
                _captured = true;
                return MessageAction.Intercept;
            }
            if (IsCompletion(header.Type) || header.Type == BackendCode.ErrorResponse) return MessageAction.ForwardWhole;
        }
        return header.Type switch
        {
            BackendCode.ReadyForQuery => MessageAction.ForwardWhole,
            // A notification names the sending backend; the session's own upstream pid is shown to the client as
            // the pid it got in BackendKeyData, so "was this my own NOTIFY?" checks keep working.
            BackendCode.NotificationResponse when _upstreamProcessId != 0 && header.PayloadLength >= 4 => MessageAction.Intercept,
            BackendCode.ParseComplete or BackendCode.CloseComplete when _rewrite is { HasPendingDrops: true } => MessageAction.ForwardWhole,
            BackendCode.ParameterDescription when _rewrite is { HasPendingDescribes: true } => MessageAction.ForwardWhole,
            // Rare (startup and SET): the rewrite follows client_encoding.
            BackendCode.ParameterStatus when _rewrite is not null => MessageAction.ForwardWhole,
            _ => MessageAction.Forward,
        };
    }

    public bool Inspect(in MessageHeader header, in ReadOnlySequence<byte> message)
    {
        switch (header.Type)
        {
            case BackendCode.ReadyForQuery:
            {
                if (header.PayloadLength != 1)
                    throw new PgProtocolException($"the upstream server sent a ReadyForQuery message of {header.PayloadLength} bytes");
                var status = (TransactionStatus)message.Slice(MessageHeader.Size, 1).FirstSpan[0];
                if (status is not (TransactionStatus.Idle or TransactionStatus.InTransaction or TransactionStatus.Failed))
                    throw new PgProtocolException($"the upstream server sent ReadyForQuery with an unknown status {(byte)status}");
                TransactionStatus = status;
                _rewrite?.OnReadyForQuery();
                return false;
            }
            case BackendCode.ParseComplete:
            case BackendCode.CloseComplete:
            case BackendCode.EmptyQueryResponse:
                _hide = 0;
                if (_rewrite!.TracksResponses) _rewrite.OnCompletion();
                return _rewrite.ShouldDrop(header.Type);
            case BackendCode.ParameterDescription:
                if (_rewrite!.TracksResponses) _rewrite.OnCompletion();
                _hide = _rewrite.ParametersToHide();
                return _hide > 0;
            case BackendCode.ParameterStatus:
            {
                var (name, value) = ReadParameterStatus((message.IsSingleSegment ? message.FirstSpan : message.ToArray())[MessageHeader.Size..]);
                _rewrite!.OnParameterStatus(name, value);
                return false;
            }
            case BackendCode.ErrorResponse:
                _rewrite!.OnError();
                return false;
            default:
                if (_rewrite is { TracksResponses: true } && IsCompletion(header.Type)) _rewrite.OnCompletion();
                return false;
        }
    }

    /// <summary>The payload of a ParameterStatus: two strings, the name and the value.</summary>
    internal static (string Name, string Value) ReadParameterStatus(ReadOnlySpan<byte> payload)
    {
        var nameEnd = payload.IndexOf((byte)0);
        if (nameEnd < 0) throw new PgProtocolException("the upstream server sent a ParameterStatus without a name");
        var rest = payload[(nameEnd + 1)..];
        var valueEnd = rest.IndexOf((byte)0);
        if (valueEnd < 0) throw new PgProtocolException("the upstream server sent a ParameterStatus without a value");
        return (System.Text.Encoding.UTF8.GetString(payload[..nameEnd]), System.Text.Encoding.UTF8.GetString(rest[..valueEnd]));
    }
    /// <summary>The responses that complete one request message (see <see cref="ResponseCapture"/>).</summary>
    private static bool IsCompletion(byte type) => type is BackendCode.ParseComplete or BackendCode.BindComplete or BackendCode.CloseComplete
        or BackendCode.ParameterDescription or BackendCode.RowDescription or BackendCode.NoData or BackendCode.CommandComplete
        or BackendCode.EmptyQueryResponse or BackendCode.PortalSuspended or BackendCode.FunctionCallResponse;

    public ValueTask InterceptAsync(MessageHeader header, ReadOnlySequence<byte> message, MessageSink destination)
    {
        if (_captured)
        {
            // A response to the proxy's own statement: only an error goes on to the client (its statement fails the same way).
            var bytes = message.ToArray();
            if (header.Type == BackendCode.ReadyForQuery) TransactionStatus = (TransactionStatus)bytes[MessageHeader.Size];
            return _rewrite!.Capture(header.Type, bytes) is { } forward
                ? destination.WriteAsync(forward, endsAtBoundary: true)
                : ValueTask.CompletedTask;
        }
        switch (header.Type)
        {
            case BackendCode.ParseComplete:
            case BackendCode.CloseComplete:
            case BackendCode.EmptyQueryResponse:
                return ValueTask.CompletedTask; // the answer to a message the proxy added
            case BackendCode.ParameterDescription:
            {
                // int16 count, then one int32 type per parameter: drop the injected ones at the end.
                var bytes = message.ToArray();
                var count = System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(bytes.AsSpan(MessageHeader.Size));
                var visible = Math.Max(count - _hide, 0);
                var b = new MessageBuilder(MessageHeader.Size + 2 + 4 * visible).StartMessage(BackendCode.ParameterDescription).WriteInt16((short)visible);
                b.WriteBytes(bytes.AsSpan(MessageHeader.Size + 2, 4 * visible));
                return destination.WriteAsync(b.EndMessage().ToArray(), endsAtBoundary: true);
            }
            default:
            {
                // Notifications are rare: a copy is fine here.
                var bytes = message.ToArray();
                var pid = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(MessageHeader.Size));
                if (pid == _upstreamProcessId)
                    System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(MessageHeader.Size), _clientProcessId);
                return destination.WriteAsync(bytes, endsAtBoundary: true);
            }
        }
    }
}
