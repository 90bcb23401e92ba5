using System.Text;

namespace MemorySql.Protocol;

/// <summary>
/// The fields of an ErrorResponse or NoticeResponse payload. Tolerates what a hostile or buggy server
/// sends: missing SQLSTATE, missing terminator, unknown field codes (CVE-2026-6666 class).
/// </summary>
public sealed class ErrorFields
{
    private readonly Dictionary<char, string> _fields;

    private ErrorFields(Dictionary<char, string> fields) => _fields = fields;

    public string? Severity => Get('V') ?? Get('S');
    public string? SqlState => Get('C');
    public string? Message => Get('M');
    public string? Detail => Get('D');
    public string? Hint => Get('H');

    public string? Get(char code) => _fields.GetValueOrDefault(code);

    public static ErrorFields Parse(ReadOnlySpan<byte> payload)
    {
        var fields = new Dictionary<char, string>();
        while (!payload.IsEmpty && payload[0] != 0)
        {
            var code = (char)payload[0];
            payload = payload[1..];
            var end = payload.IndexOf((byte)0);
            if (end < 0) end = payload.Length;
            fields[code] = Encoding.UTF8.GetString(payload[..end]);
            payload = end < payload.Length ? payload[(end + 1)..] : [];
        }
        return new ErrorFields(fields);
    }

    public override string ToString() => $"{Severity} {SqlState}: {Message}";
}
