using System.Buffers.Binary;

namespace MemorySql.Protocol;

/// <summary>An error or notice the proxy reports itself, in PostgreSQL's field layout.</summary>
public sealed record PgError(string Severity, string SqlState, string Message, string? Detail = null, string? Hint = null)
{
    public static PgError Fatal(string sqlState, string message, string? detail = null, string? hint = null) =>
        new("FATAL", sqlState, message, detail, hint);

    public static PgError Error(string sqlState, string message, string? detail = null, string? hint = null) =>
        new("ERROR", sqlState, message, detail, hint);
}

/// <summary>Writers for the backend messages MemorySql makes itself.</summary>
public static class BackendMessages
{
    /// <summary>ErrorResponse ('E') with severity (S and V), SQLSTATE (C), message (M), and detail/hint when given.</summary>
    public static MessageBuilder ErrorResponse(this MessageBuilder builder, PgError error) =>
        WriteFields(builder, BackendCode.ErrorResponse, error);

    /// <summary>NoticeResponse ('N'), same layout as ErrorResponse.</summary>
    public static MessageBuilder NoticeResponse(this MessageBuilder builder, PgError notice) =>
        WriteFields(builder, BackendCode.NoticeResponse, notice);

    private static MessageBuilder WriteFields(MessageBuilder builder, byte type, PgError error)
    {
        builder.StartMessage(type);
        builder.WriteByte((byte)'S').WriteCString(error.Severity);
        builder.WriteByte((byte)'V').WriteCString(error.Severity);
        builder.WriteByte((byte)'C').WriteCString(error.SqlState);
        builder.WriteByte((byte)'M').WriteCString(error.Message);
        if (error.Detail is not null) builder.WriteByte((byte)'D').WriteCString(error.Detail);
        if (error.Hint is not null) builder.WriteByte((byte)'H').WriteCString(error.Hint);
        builder.WriteByte(0);
        return builder.EndMessage();
    }

    /// <summary>NegotiateProtocolVersion ('v'): the newest minor version supported and the options not recognised.</summary>
    public static MessageBuilder NegotiateProtocolVersion(this MessageBuilder builder, int newestMinor, IReadOnlyList<string> unsupportedOptions)
    {
        builder.StartMessage(BackendCode.NegotiateProtocolVersion);
        builder.WriteInt32((3 << 16) | newestMinor);
        builder.WriteInt32(unsupportedOptions.Count);
        foreach (var option in unsupportedOptions) builder.WriteCString(option);
        return builder.EndMessage();
    }

    /// <summary>BackendKeyData ('K'): process id and secret key (4 bytes in 3.0, up to 256 in 3.2).</summary>
    public static MessageBuilder BackendKeyData(this MessageBuilder builder, int processId, ReadOnlySpan<byte> secret)
    {
        builder.StartMessage(BackendCode.BackendKeyData);
        builder.WriteInt32(processId);
        builder.WriteBytes(secret);
        return builder.EndMessage();
    }

    /// <summary>AuthenticationSASL ('R', 10) with the mechanisms in order.</summary>
    public static MessageBuilder AuthenticationSasl(this MessageBuilder builder, IEnumerable<string> mechanisms)
    {
        builder.StartMessage(BackendCode.Authentication);
        builder.WriteInt32(AuthenticationCode.Sasl);
        foreach (var mechanism in mechanisms) builder.WriteCString(mechanism);
        builder.WriteByte(0);
        return builder.EndMessage();
    }

    /// <summary>ReadyForQuery ('Z').</summary>
    public static MessageBuilder ReadyForQuery(this MessageBuilder builder, TransactionStatus status)
    {
        builder.StartMessage(BackendCode.ReadyForQuery);
        builder.WriteByte((byte)status);
        return builder.EndMessage();
    }

    /// <summary>Reads the process id and secret of a BackendKeyData payload.</summary>
    public static (int ProcessId, byte[] Secret) ReadBackendKeyData(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8 || payload.Length - 4 > StartupPacket.MaxCancelKeyLength)
            throw new PgProtocolException($"invalid BackendKeyData message ({payload.Length} bytes)");
        return (BinaryPrimitives.ReadInt32BigEndian(payload), payload[4..].ToArray());
    }
}

/// <summary>Writers for the frontend messages MemorySql sends to the upstream server itself.</summary>
public static class FrontendMessages
{
    public static MessageBuilder StartupMessage(this MessageBuilder builder, int minorVersion, IEnumerable<StartupParameter> parameters)
    {
        builder.StartPacket();
        builder.WriteInt32((3 << 16) | minorVersion);
        foreach (var p in parameters)
        {
            builder.WriteCString(p.Name);
            builder.WriteCString(p.Value);
        }
        builder.WriteByte(0);
        return builder.EndMessage();
    }

    public static MessageBuilder SslRequest(this MessageBuilder builder) =>
        builder.StartPacket().WriteInt32(StartupCodes.SslRequest).EndMessage();

    public static MessageBuilder GssEncRequest(this MessageBuilder builder) =>
        builder.StartPacket().WriteInt32(StartupCodes.GssEncRequest).EndMessage();

    public static MessageBuilder CancelRequest(this MessageBuilder builder, int processId, ReadOnlySpan<byte> secret) =>
        builder.StartPacket().WriteInt32(StartupCodes.CancelRequest).WriteInt32(processId).WriteBytes(secret).EndMessage();

    public static MessageBuilder Query(this MessageBuilder builder, string sql) =>
        builder.StartMessage(FrontendCode.Query).WriteCString(sql).EndMessage();

    public static MessageBuilder Terminate(this MessageBuilder builder) =>
        builder.StartMessage(FrontendCode.Terminate).EndMessage();

    public static MessageBuilder Sync(this MessageBuilder builder) =>
        builder.StartMessage(FrontendCode.Sync).EndMessage();
}
