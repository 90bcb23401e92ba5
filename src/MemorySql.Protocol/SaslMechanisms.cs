using System.Text;

namespace MemorySql.Protocol;

/// <summary>The mechanism list of AuthenticationSASL: NUL-terminated names ending with an empty one.</summary>
public static class SaslMechanisms
{
    public const string ScramSha256 = "SCRAM-SHA-256";
    public const string ScramSha256Plus = "SCRAM-SHA-256-PLUS";

    /// <summary>Reads the names from the payload after the int32 auth code.</summary>
    public static List<string> Parse(ReadOnlySpan<byte> list)
    {
        var result = new List<string>();
        while (true)
        {
            var end = list.IndexOf((byte)0);
            if (end < 0) throw new PgProtocolException("malformed AuthenticationSASL message: mechanism list is not terminated");
            if (end == 0) return result;
            result.Add(Encoding.UTF8.GetString(list[..end]));
            list = list[(end + 1)..];
        }
    }

    /// <summary>
    /// Channel binding ("-PLUS" mechanisms) binds the SCRAM exchange to the TLS connection the server sees.
    /// When a proxy sits in between, the client's TLS connection ends at the proxy, so those mechanisms
    /// can never succeed through it: they are removed from what the client is offered.
    /// </summary>
    public static List<string> WithoutChannelBinding(IEnumerable<string> mechanisms) =>
        mechanisms.Where(m => !m.EndsWith("-PLUS", StringComparison.Ordinal)).ToList();
}
