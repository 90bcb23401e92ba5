using System.Buffers;

namespace MemorySql.Rewrite.Lexing;

/// <summary>
/// PostgreSQL's scanner (src/backend/parser/scan.l) for what call detection needs: it finds where every token
/// starts and ends, so that names inside strings, quoted identifiers and comments are never mistaken for
/// calls. Values are decoded later, and only for the tokens that matter (<see cref="LiteralDecoder"/>).
/// </summary>
/// <remarks>
/// Input PostgreSQL would reject in the scanner (an unterminated string, quoted identifier or comment, an
/// empty quoted identifier, a malformed UESCAPE clause, an absurd parameter number) makes
/// <see cref="TryTokenize"/> return false: the statement then goes upstream untouched and PostgreSQL reports
/// the error itself. Nothing here throws on any input.
/// </remarks>
internal static class SqlLexer
{
    /// <summary>$n with more digits than this is refused (PostgreSQL allows at most 65535 bound values).</summary>
    private const int MaxParameterDigits = 9;

    /// <summary>NAMEDATALEN: PostgreSQL raises "operator too long" at this length.</summary>
    private const int MaxOperatorLength = 64;

    /// <summary>Characters that let a multi-character operator end in + or - (scan.l's {operator} rule).</summary>
    private static readonly SearchValues<char> KeepsTrailingSign = SearchValues.Create("~!@#^&|`?%");

    public static bool TryTokenize(ReadOnlySpan<char> sql, bool standardConformingStrings, TokenBuffer tokens)
    {
        var n = sql.Length;
        var i = 0;
        while (i < n)
        {
            var c = sql[i];
            if (IsWhitespace(c))
            {
                i++;
                continue;
            }
            var next = i + 1 < n ? sql[i + 1] : '\0';
            int end;
            switch (c)
            {
                case '-' when next == '-':
                    i = SkipLineComment(sql, i);
                    continue;
                case '/' when next == '*':
                    i = SkipBlockComment(sql, i);
                    if (i < 0) return false;
                    continue;
                case '\'':
                    if (!TryScanQuotedBody(sql, i + 1, !standardConformingStrings, out end)) return false;
                    tokens.Add(new Token(TokenKind.String, i, end, StringForm.Standard));
                    i = end;
                    continue;
                case '"':
                    if (!TryScanQuotedIdentifier(sql, i + 1, out end)) return false;
                    tokens.Add(new Token(TokenKind.QuotedIdentifier, i, end));
                    i = end;
                    continue;
                case 'e' or 'E' when next == '\'':
                    if (!TryScanQuotedBody(sql, i + 2, backslashEscapes: true, out end)) return false;
                    tokens.Add(new Token(TokenKind.String, i, end, StringForm.Escape));
                    i = end;
                    continue;
                case 'b' or 'B' or 'x' or 'X' when next == '\'':
                    if (!TryScanQuotedBody(sql, i + 2, backslashEscapes: false, out end)) return false;
                    tokens.Add(new Token(TokenKind.String, i, end, c is 'b' or 'B' ? StringForm.Bit : StringForm.Hex));
                    i = end;
                    continue;
                case 'n' or 'N' when next == '\'':
                    if (!TryScanQuotedBody(sql, i + 2, !standardConformingStrings, out end)) return false;
                    tokens.Add(new Token(TokenKind.String, i, end, StringForm.National));
                    i = end;
                    continue;
                case 'u' or 'U' when next == '&' && i + 2 < n && sql[i + 2] is '\'' or '"':
                    if (!TryScanUnicode(sql, i, tokens, out i)) return false;
                    continue;
                case '$':
                    if (!TryScanDollar(sql, i, tokens, out i)) return false;
                    continue;
                case '(':
                    tokens.Add(new Token(TokenKind.OpenParen, i, i + 1));
                    i++;
                    continue;
                case ')':
                    tokens.Add(new Token(TokenKind.CloseParen, i, i + 1));
                    i++;
                    continue;
                case '[':
                    tokens.Add(new Token(TokenKind.OpenBracket, i, i + 1));
                    i++;
                    continue;
                case ']':
                    tokens.Add(new Token(TokenKind.CloseBracket, i, i + 1));
                    i++;
                    continue;
                case ',':
                    tokens.Add(new Token(TokenKind.Comma, i, i + 1));
                    i++;
                    continue;
                case ';':
                    tokens.Add(new Token(TokenKind.Semicolon, i, i + 1));
                    i++;
                    continue;
                case ':':
                    var kind = next switch { ':' => TokenKind.TypeCast, '=' => TokenKind.ColonEquals, _ => TokenKind.Colon };
                    var width = kind == TokenKind.Colon ? 1 : 2;
                    tokens.Add(new Token(kind, i, i + width));
                    i += width;
                    continue;
                case '.' when !IsDigit(next):
                    tokens.Add(new Token(TokenKind.Dot, i, i + 1));
                    i++;
                    continue;
            }
            if (IsDigit(c) || c == '.')
            {
                end = ScanNumber(sql, i);
                tokens.Add(new Token(TokenKind.Number, i, end));
                i = end;
            }
            else if (IsIdentifierStart(c))
            {
                end = i + 1;
                while (end < n && IsIdentifierPart(sql[end])) end++;
                tokens.Add(new Token(TokenKind.Identifier, i, end));
                i = end;
            }
            else if (IsOperatorChar(c))
            {
                end = ScanOperator(sql, i);
                var isArrow = end - i == 2 && c == '=' && sql[i + 1] == '>';
                tokens.Add(new Token(isArrow ? TokenKind.EqualsGreater : TokenKind.Operator, i, end));
                i = end;
            }
            else
            {
                tokens.Add(new Token(TokenKind.Other, i, i + 1));
                i++;
            }
        }
        return true;
    }

    /// <summary>
    /// Scans a '…'-style body from just after its opening quote to just after its final closing quote,
    /// across '' (an embedded quote), backslash escapes (E'…', or '…' with standard_conforming_strings off)
    /// and continuation: another quote after whitespace that contains a newline (line comments allowed).
    /// </summary>
    internal static bool TryScanQuotedBody(ReadOnlySpan<char> sql, int bodyStart, bool backslashEscapes, out int end)
    {
        var j = bodyStart;
        while (true)
        {
            var rest = sql[j..];
            var k = backslashEscapes ? rest.IndexOfAny('\'', '\\') : rest.IndexOf('\'');
            if (k < 0)
            {
                end = sql.Length;
                return false;
            }
            j += k;
            if (sql[j] == '\\')
            {
                j += 2;
                if (j > sql.Length)
                {
                    end = sql.Length;
                    return false;
                }
                continue;
            }
            if (j + 1 < sql.Length && sql[j + 1] == '\'')
            {
                j += 2;
                continue;
            }
            if (TryContinuation(sql, j + 1, out var nextBody))
            {
                j = nextBody;
                continue;
            }
            end = j + 1;
            return true;
        }
    }

    /// <summary>
    /// scan.l's {quotecontinue}: after a closing quote, horizontal space and line comments, at least one
    /// newline, more whitespace or line comments, then a quote. Block comments are not allowed there.
    /// </summary>
    internal static bool TryContinuation(ReadOnlySpan<char> sql, int from, out int nextBodyStart)
    {
        var j = from;
        var sawNewline = false;
        while (j < sql.Length)
        {
            var c = sql[j];
            if (c is ' ' or '\t' or '\f') j++;
            else if (c is '\n' or '\r')
            {
                sawNewline = true;
                j++;
            }
            else if (c == '\v' && sawNewline) j++;
            else if (c == '-' && j + 1 < sql.Length && sql[j + 1] == '-') j = SkipLineComment(sql, j);
            else break;
        }
        if (sawNewline && j < sql.Length && sql[j] == '\'')
        {
            nextBodyStart = j + 1;
            return true;
        }
        nextBodyStart = 0;
        return false;
    }

    /// <summary>From just after an opening double quote to just after the closing one; "" is an embedded quote.</summary>
    private static bool TryScanQuotedIdentifier(ReadOnlySpan<char> sql, int bodyStart, out int end)
    {
        var j = bodyStart;
        while (true)
        {
            var k = sql[j..].IndexOf('"');
            if (k < 0)
            {
                end = sql.Length;
                return false;
            }
            j += k;
            if (j + 1 < sql.Length && sql[j + 1] == '"')
            {
                j += 2;
                continue;
            }
            end = j + 1;
            return end - bodyStart > 1; // "" is a zero-length delimited identifier: an error in PostgreSQL
        }
    }

    /// <summary>U&amp;'…' or U&amp;"…", then an optional UESCAPE 'c' clause (after whitespace or comments).</summary>
    private static bool TryScanUnicode(ReadOnlySpan<char> sql, int start, TokenBuffer tokens, out int end)
    {
        var isString = sql[start + 2] == '\'';
        var scanned = isString
            ? TryScanQuotedBody(sql, start + 3, backslashEscapes: false, out end)
            : TryScanQuotedIdentifier(sql, start + 3, out end);
        if (!scanned) return false;
        var escape = 0;
        switch (ScanUescape(sql, end, out var clauseEnd, out var escapeChar))
        {
            case UescapeClause.Malformed:
                return false;
            case UescapeClause.Present:
                end = clauseEnd;
                escape = escapeChar;
                break;
        }
        tokens.Add(new Token(isString ? TokenKind.String : TokenKind.QuotedIdentifier, start, end, isString ? StringForm.Unicode : StringForm.None, escape));
        return true;
    }

    private enum UescapeClause { Absent, Present, Malformed }

    /// <summary>PostgreSQL's parser (parser.c) accepts UESCAPE followed by a one-character simple string.</summary>
    private static UescapeClause ScanUescape(ReadOnlySpan<char> sql, int from, out int end, out char escape)
    {
        end = from;
        escape = '\0';
        var j = SkipWhitespaceAndComments(sql, from);
        if (j < 0) return UescapeClause.Malformed;
        const string keyword = "uescape";
        if (sql.Length - j < keyword.Length || !sql.Slice(j, keyword.Length).Equals(keyword, StringComparison.OrdinalIgnoreCase)
            || (j + keyword.Length < sql.Length && IsIdentifierPart(sql[j + keyword.Length])))
            return UescapeClause.Absent;
        j = SkipWhitespaceAndComments(sql, j + keyword.Length);
        if (j < 0 || sql.Length - j < 3 || sql[j] != '\'' || sql[j + 1] == '\'' || sql[j + 2] != '\'') return UescapeClause.Malformed;
        if (j + 3 < sql.Length && sql[j + 3] == '\'') return UescapeClause.Malformed; // 'c'' … is a longer string
        escape = sql[j + 1];
        if (char.IsAsciiHexDigit(escape) || escape is '+' or '\'' or '"' || IsWhitespace(escape)) return UescapeClause.Malformed;
        end = j + 3;
        return UescapeClause.Present;
    }

    /// <summary>$n, a $tag$…$tag$ string, or a lone $ (which scan.l returns as a character of its own).</summary>
    private static bool TryScanDollar(ReadOnlySpan<char> sql, int start, TokenBuffer tokens, out int end)
    {
        var j = start + 1;
        if (j < sql.Length && IsDigit(sql[j]))
        {
            while (j < sql.Length && IsDigit(sql[j])) j++;
            end = j;
            if (j < sql.Length && IsIdentifierStart(sql[j])) return false; // $1abc: "trailing junk after parameter"
            var digits = sql[(start + 1)..j].TrimStart('0');
            if (digits.Length > MaxParameterDigits) return false;
            var number = 0;
            foreach (var d in digits) number = number * 10 + (d - '0');
            tokens.Add(new Token(TokenKind.Parameter, start, j, Value: number));
            return true;
        }
        if (j < sql.Length && IsDollarTagStart(sql[j]))
        {
            j++;
            while (j < sql.Length && IsDollarTagStart(sql[j]) || (j < sql.Length && IsDigit(sql[j]))) j++;
        }
        if (j < sql.Length && sql[j] == '$')
        {
            var delimiter = sql[start..(j + 1)];
            var close = sql[(j + 1)..].IndexOf(delimiter);
            if (close < 0)
            {
                end = sql.Length;
                return false;
            }
            end = j + 1 + close + delimiter.Length;
            tokens.Add(new Token(TokenKind.String, start, end, StringForm.Dollar));
            return true;
        }
        end = start + 1;
        tokens.Add(new Token(TokenKind.Other, start, end));
        return true;
    }

    /// <summary>
    /// Decimal, 0x/0o/0b and 1_000 forms, a fraction and an exponent. Letters that follow a number are
    /// "trailing junk" to PostgreSQL (an error); taking them into the number keeps 1recall( from looking like a call.
    /// </summary>
    private static int ScanNumber(ReadOnlySpan<char> sql, int start)
    {
        var j = start;
        while (j < sql.Length && (IsDigit(sql[j]) || sql[j] == '_')) j++;
        if (j < sql.Length && sql[j] == '.' && !(j + 1 < sql.Length && sql[j + 1] == '.'))
        {
            j++;
            while (j < sql.Length && (IsDigit(sql[j]) || sql[j] == '_')) j++;
        }
        if (j < sql.Length && sql[j] is 'e' or 'E')
        {
            var k = j + 1;
            if (k < sql.Length && sql[k] is '+' or '-') k++;
            if (k < sql.Length && IsDigit(sql[k]))
            {
                j = k;
                while (j < sql.Length && IsDigit(sql[j])) j++;
            }
        }
        while (j < sql.Length && IsIdentifierPart(sql[j])) j++;
        return j;
    }

    /// <summary>
    /// scan.l's {operator} rule: the longest run of operator characters, cut before an embedded -- or /*,
    /// and without trailing + or - unless the operator also contains one of ~ ! @ # ^ &amp; | ` ? %.
    /// </summary>
    private static int ScanOperator(ReadOnlySpan<char> sql, int start)
    {
        // PostgreSQL rejects operators of NAMEDATALEN (64) characters or more, so looking further never changes
        // how accepted SQL lexes, and it keeps runs like +-+-+-… (one token per character) linear.
        var j = start;
        var limit = Math.Min(sql.Length, start + MaxOperatorLength);
        while (j < limit && IsOperatorChar(sql[j])) j++;
        var length = j - start;
        for (var k = start + 1; k < j - 1; k++)
        {
            if ((sql[k] == '-' && sql[k + 1] == '-') || (sql[k] == '/' && sql[k + 1] == '*'))
            {
                length = k - start;
                break;
            }
        }
        if (length > 1 && sql[start + length - 1] is '+' or '-' && sql.Slice(start, length - 1).IndexOfAny(KeepsTrailingSign) < 0)
        {
            while (length > 1 && sql[start + length - 1] is '+' or '-') length--;
        }
        return start + length;
    }

    internal static int SkipLineComment(ReadOnlySpan<char> sql, int start)
    {
        var k = sql[start..].IndexOfAny('\n', '\r');
        return k < 0 ? sql.Length : start + k;
    }

    /// <summary>Skips a block comment; they nest. Returns -1 when it is not terminated.</summary>
    internal static int SkipBlockComment(ReadOnlySpan<char> sql, int start)
    {
        var depth = 0;
        var j = start;
        while (j + 1 < sql.Length)
        {
            if (sql[j] == '/' && sql[j + 1] == '*')
            {
                depth++;
                j += 2;
            }
            else if (sql[j] == '*' && sql[j + 1] == '/')
            {
                j += 2;
                if (--depth == 0) return j;
            }
            else j++;
        }
        return -1;
    }

    /// <summary>Skips whitespace and comments; -1 when a block comment is not terminated.</summary>
    internal static int SkipWhitespaceAndComments(ReadOnlySpan<char> sql, int from)
    {
        var j = from;
        while (j < sql.Length)
        {
            if (IsWhitespace(sql[j])) j++;
            else if (sql[j] == '-' && j + 1 < sql.Length && sql[j + 1] == '-') j = SkipLineComment(sql, j);
            else if (sql[j] == '/' && j + 1 < sql.Length && sql[j + 1] == '*')
            {
                j = SkipBlockComment(sql, j);
                if (j < 0) return -1;
            }
            else break;
        }
        return j;
    }

    /// <summary>Space, tab, newline, carriage return, form feed; vertical tab too (PostgreSQL 16 and later).</summary>
    internal static bool IsWhitespace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

    internal static bool IsDigit(char c) => c is >= '0' and <= '9';

    /// <summary>[A-Za-z_] and every non-ASCII character (scan.l: \200-\377, i.e. every byte of a multi-byte character).</summary>
    internal static bool IsIdentifierStart(char c) => char.IsAsciiLetter(c) || c == '_' || c >= 0x80;

    internal static bool IsIdentifierPart(char c) => IsIdentifierStart(c) || IsDigit(c) || c == '$';

    private static bool IsDollarTagStart(char c) => IsIdentifierStart(c);

    private static bool IsOperatorChar(char c) => c is '~' or '!' or '@' or '#' or '^' or '&' or '|' or '`' or '?' or '+' or '-' or '*' or '/' or '%' or '<' or '>' or '=';
}
