namespace MemorySql.Protocol;

/// <summary>A message broke the protocol; carries the SQLSTATE to report (08P01 unless said otherwise).</summary>
public sealed class PgProtocolException : Exception
{
    public PgProtocolException() : this("protocol violation") { }
    public PgProtocolException(string message) : this(SqlStates.ProtocolViolation, message) { }
    public PgProtocolException(string message, Exception inner) : base(message, inner) => SqlState = SqlStates.ProtocolViolation;

    public PgProtocolException(string sqlState, string message) : base(message) => SqlState = sqlState;

    public string SqlState { get; }
}
