namespace MemorySql.Protocol;

/// <summary>Codes of the untyped packets a client may send first (int32 length, int32 code).</summary>
public static class StartupCodes
{
    public const int ProtocolVersion30 = (3 << 16) | 0;
    public const int ProtocolVersion32 = (3 << 16) | 2;
    public const int CancelRequest = 80877102;
    public const int SslRequest = 80877103;
    public const int GssEncRequest = 80877104;

    /// <summary>The first byte of a TLS ClientHello: a PostgreSQL 17 client using direct TLS sends it instead of a length.</summary>
    public const byte TlsHandshakeRecord = 0x16;
}

/// <summary>Type bytes of messages sent by the client (frontend).</summary>
public static class FrontendCode
{
    public const byte Bind = (byte)'B';
    public const byte Close = (byte)'C';
    public const byte CopyData = (byte)'d';
    public const byte CopyDone = (byte)'c';
    public const byte CopyFail = (byte)'f';
    public const byte Describe = (byte)'D';
    public const byte Execute = (byte)'E';
    public const byte Flush = (byte)'H';
    public const byte FunctionCall = (byte)'F';
    public const byte Parse = (byte)'P';
    /// <summary>PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share this byte.</summary>
    public const byte Password = (byte)'p';
    public const byte Query = (byte)'Q';
    public const byte Sync = (byte)'S';
    public const byte Terminate = (byte)'X';

    /// <summary>True for every type byte protocol 3.x defines for the frontend.</summary>
    public static bool IsKnown(byte code) => code switch
    {
        Bind or Close or CopyData or CopyDone or CopyFail or Describe or Execute or Flush or FunctionCall
            or Parse or Password or Query or Sync or Terminate => true,
        _ => false,
    };
}

/// <summary>Type bytes of messages sent by the server (backend). Note that 'H' means CopyOutResponse here, Flush in the frontend.</summary>
public static class BackendCode
{
    public const byte Authentication = (byte)'R';
    public const byte BackendKeyData = (byte)'K';
    public const byte BindComplete = (byte)'2';
    public const byte CloseComplete = (byte)'3';
    public const byte CommandComplete = (byte)'C';
    public const byte CopyBothResponse = (byte)'W';
    public const byte CopyData = (byte)'d';
    public const byte CopyDone = (byte)'c';
    public const byte CopyInResponse = (byte)'G';
    public const byte CopyOutResponse = (byte)'H';
    public const byte DataRow = (byte)'D';
    public const byte EmptyQueryResponse = (byte)'I';
    public const byte ErrorResponse = (byte)'E';
    public const byte FunctionCallResponse = (byte)'V';
    public const byte NegotiateProtocolVersion = (byte)'v';
    public const byte NoData = (byte)'n';
    public const byte NoticeResponse = (byte)'N';
    public const byte NotificationResponse = (byte)'A';
    public const byte ParameterDescription = (byte)'t';
    public const byte ParameterStatus = (byte)'S';
    public const byte ParseComplete = (byte)'1';
    public const byte PortalSuspended = (byte)'s';
    public const byte ReadyForQuery = (byte)'Z';
    public const byte RowDescription = (byte)'T';

    /// <summary>True for every type byte protocol 3.x defines for the backend.</summary>
    public static bool IsKnown(byte code) => code switch
    {
        Authentication or BackendKeyData or BindComplete or CloseComplete or CommandComplete or CopyBothResponse
            or CopyData or CopyDone or CopyInResponse or CopyOutResponse or DataRow or EmptyQueryResponse
            or ErrorResponse or FunctionCallResponse or NegotiateProtocolVersion or NoData or NoticeResponse
            or NotificationResponse or ParameterDescription or ParameterStatus or ParseComplete or PortalSuspended
            or ReadyForQuery or RowDescription => true,
        _ => false,
    };
}

/// <summary>The int32 that follows 'R' and says which authentication step this is.</summary>
public static class AuthenticationCode
{
    public const int Ok = 0;
    public const int KerberosV5 = 2;
    public const int CleartextPassword = 3;
    public const int Md5Password = 5;
    public const int Gss = 7;
    public const int GssContinue = 8;
    public const int Sspi = 9;
    public const int Sasl = 10;
    public const int SaslContinue = 11;
    public const int SaslFinal = 12;

    /// <summary>True when the server waits for a 'p' message from the client after this request.</summary>
    public static bool ExpectsClientResponse(int code) =>
        code is KerberosV5 or CleartextPassword or Md5Password or Gss or GssContinue or Sspi or Sasl or SaslContinue;
}

/// <summary>SQLSTATE codes that MemorySql itself reports (everything else comes from PostgreSQL).</summary>
public static class SqlStates
{
    public const string ProtocolViolation = "08P01";
    public const string FeatureNotSupported = "0A000";
    public const string UnableToConnect = "08001";
    public const string ConnectionFailure = "08006";
    public const string TooManyConnections = "53300";
    public const string AdminShutdown = "57P01";
    public const string IdleSessionTimeout = "57P05";
    public const string InvalidAuthorization = "28000";
    public const string QueryCanceled = "57014";
    public const string SystemError = "58000";
}

/// <summary>Transaction status byte of ReadyForQuery.</summary>
public enum TransactionStatus : byte
{
    Unknown = 0,
    Idle = (byte)'I',
    InTransaction = (byte)'T',
    Failed = (byte)'E',
}
