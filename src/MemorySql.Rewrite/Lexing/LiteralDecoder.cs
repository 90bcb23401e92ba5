using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace MemorySql.Rewrite.Lexing;

/// <summary>
/// Decodes a string constant or quoted identifier to exactly the value PostgreSQL gives it, assuming a UTF-8
/// database: '' and "" doubling, continuation across newlines, E'…' backslash escapes (octal and hex bytes,
/// \u and \U code points, surrogate pairs), U&amp;'…' escapes with any UESCAPE character, dollar quoting, and
/// N'…' (a character(n) value, whose trailing spaces are dropped when it becomes text).
/// </summary>
/// <remarks>Returns null where PostgreSQL would raise an error (bad escape, NUL, invalid UTF-8), and never throws.</remarks>
internal static class LiteralDecoder
{
    /// <summary>The text value of a string token, or null when it is not text or PostgreSQL would reject it.</summary>
    public static string? DecodeString(ReadOnlySpan<char> sql, in Token token, bool standardConformingStrings)
    {
        var text = sql[token.Start..token.End];
        return token.Form switch
        {
            StringForm.Standard => DecodeQuoted(text, 1, backslashEscapes: !standardConformingStrings),
            StringForm.Escape => DecodeQuoted(text, 2, backslashEscapes: true),
            StringForm.National => DecodeQuoted(text, 2, backslashEscapes: !standardConformingStrings)?.TrimEnd(' '),
            StringForm.Unicode when standardConformingStrings => DecodeUnicodeString(text, EscapeOf(token)),
            StringForm.Dollar => DecodeDollar(text),
            _ => null, // B'…' and X'…' are bit strings; U&'…' is an error without standard_conforming_strings
        };
    }

    /// <summary>The name a quoted identifier stands for, or null when its escapes are invalid.</summary>
    public static string? DecodeQuotedIdentifier(ReadOnlySpan<char> sql, in Token token)
    {
        var text = sql[token.Start..token.End];
        if (text[0] == '"') return Undouble(text[1..QuotedIdentifierEnd(text, 1)], '"');
        // U&"…" [UESCAPE 'c']: the clause may hold comments, so find the closing quote by scanning.
        var body = Undouble(text[3..QuotedIdentifierEnd(text, 3)], '"');
        return ProcessUnicodeEscapes(body, EscapeOf(token));
    }

    /// <summary>The index of the quote that closes an identifier whose body starts at <paramref name="bodyStart"/>.</summary>
    private static int QuotedIdentifierEnd(ReadOnlySpan<char> text, int bodyStart)
    {
        var j = bodyStart;
        while (true)
        {
            j += text[j..].IndexOf('"');
            if (j + 1 < text.Length && text[j + 1] == '"') j += 2;
            else return j;
        }
    }

    private static char EscapeOf(in Token token) => token.Value == 0 ? '\\' : (char)token.Value;

    private static string Undouble(ReadOnlySpan<char> body, char quote)
    {
        ReadOnlySpan<char> doubled = [quote, quote];
        return body.IndexOf(doubled) < 0 ? body.ToString() : body.ToString().Replace(new string(quote, 2), new string(quote, 1), StringComparison.Ordinal);
    }

    private static string? DecodeDollar(ReadOnlySpan<char> text)
    {
        var tagEnd = text[1..].IndexOf('$') + 2;
        var value = text[tagEnd..^tagEnd];
        return value.Contains('\0') ? null : value.ToString();
    }

    /// <summary>'…' or E'…' (with continuation parts) from its prefix length to the end of the token.</summary>
    private static string? DecodeQuoted(ReadOnlySpan<char> text, int bodyStart, bool backslashEscapes)
    {
        // Fast path: one part, no escapes, no doubled quotes.
        var simpleBody = text[bodyStart..^1];
        if (simpleBody.IndexOfAny('\'', '\\') < 0 && !simpleBody.Contains('\0')) return simpleBody.ToString();

        // Escapes can produce single bytes (E'\xC3\xA9'), so collect UTF-8 and validate it at the end, as
        // PostgreSQL does. Every escape is at least as long in UTF-16 as what it produces in UTF-8 (\U, 10
        // chars, gives at most 4 bytes) and an ordinary char gives at most 3 bytes.
        var buffer = ArrayPool<byte>.Shared.Rent(text.Length * 3 + 4);
        try
        {
            var written = 0;
            var pendingHigh = -1;
            var j = bodyStart;
            while (true)
            {
                var rest = text[j..];
                var k = backslashEscapes ? rest.IndexOfAny('\'', '\\') : rest.IndexOf('\'');
                if (k < 0) return null; // cannot happen for a token the lexer produced
                if (k > 0)
                {
                    if (pendingHigh >= 0) return null;
                    if (Utf8.FromUtf16(rest[..k], buffer.AsSpan(written), out _, out var n, replaceInvalidSequences: false) != OperationStatus.Done) return null;
                    written += n;
                }
                j += k;
                if (text[j] == '\\')
                {
                    if (!TryEscape(text, ref j, buffer, ref written, ref pendingHigh)) return null;
                    continue;
                }
                if (pendingHigh >= 0) return null;
                if (j + 1 < text.Length && text[j + 1] == '\'')
                {
                    buffer[written++] = (byte)'\'';
                    j += 2;
                    continue;
                }
                if (SqlLexer.TryContinuation(text, j + 1, out var nextBody))
                {
                    j = nextBody;
                    continue;
                }
                break;
            }
            var bytes = buffer.AsSpan(0, written);
            if (bytes.Contains((byte)0)) return null;
            return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One backslash escape of E'…' at <paramref name="j"/> (scan.l: xeescape, xeoctesc, xehexesc, xeunicode).</summary>
    private static bool TryEscape(ReadOnlySpan<char> text, ref int j, byte[] buffer, ref int written, ref int pendingHigh)
    {
        var c = text[j + 1];
        var isUnicode = c is 'u' or 'U';
        if (pendingHigh >= 0 && !isUnicode) return false; // a high surrogate must be followed by its low half
        switch (c)
        {
            case >= '0' and <= '7':
            {
                var value = 0;
                var k = j + 1;
                while (k < text.Length && k < j + 4 && text[k] is >= '0' and <= '7') value = value * 8 + (text[k++] - '0');
                buffer[written++] = (byte)value; // \777 is 511: PostgreSQL keeps the low byte too
                j = k;
                return true;
            }
            case 'x' when j + 2 < text.Length && char.IsAsciiHexDigit(text[j + 2]):
            {
                var k = j + 2;
                var value = 0;
                while (k < text.Length && k < j + 4 && char.IsAsciiHexDigit(text[k])) value = value * 16 + HexValue(text[k++]);
                buffer[written++] = (byte)value;
                j = k;
                return true;
            }
            case 'u' or 'U':
            {
                var digits = c == 'u' ? 4 : 8;
                if (j + 2 + digits > text.Length || !TryParseHex(text.Slice(j + 2, digits), out var codePoint)) return false;
                j += 2 + digits;
                return AppendCodePoint(codePoint, buffer, ref written, ref pendingHigh);
            }
            default:
            {
                var single = c switch { 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => c };
                // A backslash before a non-ASCII character keeps the whole character (both halves of a pair).
                var width = char.IsHighSurrogate(c) && j + 2 < text.Length && char.IsLowSurrogate(text[j + 2]) ? 2 : 1;
                ReadOnlySpan<char> chars = width == 1 ? [single] : text.Slice(j + 1, 2);
                if (Utf8.FromUtf16(chars, buffer.AsSpan(written), out _, out var n, replaceInvalidSequences: false) != OperationStatus.Done) return false;
                written += n;
                j += 1 + width;
                return true;
            }
        }
    }

    private static bool AppendCodePoint(int codePoint, byte[] buffer, ref int written, ref int pendingHigh)
    {
        if (pendingHigh >= 0)
        {
            if (codePoint is < 0xDC00 or > 0xDFFF) return false;
            codePoint = 0x10000 + ((pendingHigh - 0xD800) << 10) + (codePoint - 0xDC00);
            pendingHigh = -1;
        }
        else if (codePoint is >= 0xD800 and <= 0xDBFF)
        {
            pendingHigh = codePoint;
            return true;
        }
        if (!IsValidScalar(codePoint)) return false;
        written += new Rune(codePoint).EncodeToUtf8(buffer.AsSpan(written));
        return true;
    }

    /// <summary>U&amp;'…': collect the body (with '' and continuation), then apply the Unicode escapes.</summary>
    private static string? DecodeUnicodeString(ReadOnlySpan<char> text, char escape)
    {
        var body = new StringBuilder(text.Length);
        var j = 3;
        while (true)
        {
            var k = text[j..].IndexOf('\'');
            if (k < 0) return null;
            body.Append(text.Slice(j, k));
            j += k;
            if (j + 1 < text.Length && text[j + 1] == '\'')
            {
                body.Append('\'');
                j += 2;
                continue;
            }
            if (SqlLexer.TryContinuation(text, j + 1, out var nextBody))
            {
                j = nextBody;
                continue;
            }
            break;
        }
        return ProcessUnicodeEscapes(body.ToString(), escape);
    }

    /// <summary>
    /// The escapes of U&amp;'…' and U&amp;"…" (parser.c, str_udeescape): ee is the escape character itself,
    /// eXXXX and e+XXXXXX are code points; surrogate pairs combine; anything else after e is an error.
    /// </summary>
    private static string? ProcessUnicodeEscapes(ReadOnlySpan<char> body, char escape)
    {
        if (body.IndexOf(escape) < 0) return body.Contains('\0') ? null : body.ToString();
        var result = new StringBuilder(body.Length);
        var pendingHigh = -1;
        for (var i = 0; i < body.Length; i++)
        {
            var c = body[i];
            if (c != escape)
            {
                if (pendingHigh >= 0 || c == '\0') return null;
                result.Append(c);
                continue;
            }
            int codePoint;
            if (i + 1 < body.Length && body[i + 1] == escape)
            {
                if (pendingHigh >= 0) return null;
                result.Append(escape);
                i++;
                continue;
            }
            if (i + 1 < body.Length && body[i + 1] == '+')
            {
                if (i + 8 > body.Length || !TryParseHex(body.Slice(i + 2, 6), out codePoint)) return null;
                i += 7;
            }
            else
            {
                if (i + 5 > body.Length || !TryParseHex(body.Slice(i + 1, 4), out codePoint)) return null;
                i += 4;
            }
            if (pendingHigh >= 0)
            {
                if (codePoint is < 0xDC00 or > 0xDFFF) return null;
                codePoint = 0x10000 + ((pendingHigh - 0xD800) << 10) + (codePoint - 0xDC00);
                pendingHigh = -1;
            }
            else if (codePoint is >= 0xD800 and <= 0xDBFF)
            {
                pendingHigh = codePoint;
                continue;
            }
            if (!IsValidScalar(codePoint)) return null;
            result.Append(char.ConvertFromUtf32(codePoint));
        }
        return pendingHigh >= 0 ? null : result.ToString();
    }

    /// <summary>PostgreSQL accepts code points 1 … 0x10FFFF except lone surrogate halves.</summary>
    private static bool IsValidScalar(int codePoint) => codePoint is > 0 and <= 0x10FFFF and (< 0xD800 or > 0xDFFF);

    private static bool TryParseHex(ReadOnlySpan<char> digits, out int value)
    {
        value = 0;
        foreach (var d in digits)
            if (!char.IsAsciiHexDigit(d)) return false;
        return int.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && value >= 0;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
