using System.Buffers;
using System.Text;
using MemorySql.Rewrite.Lexing;

namespace MemorySql.Rewrite;

/// <summary>
/// Finds the calls of memory routines in a token stream and classifies their text argument. A call is the
/// routine's name (unquoted in any case, or quoted exactly, optionally qualified with the configured schema)
/// followed by "(", in any statement of the text, at any depth.
/// </summary>
internal sealed class CallSiteFinder
{
    internal const string ReasonMissing = "the text argument is missing";
    internal const string ReasonExpression = "the text argument is an expression, not a string constant or a parameter";
    internal const string ReasonTwice = "the text argument is given both by position and by name";
    internal const string ReasonNotText = "a bit-string constant is not text";
    internal const string ReasonInvalidLiteral = "PostgreSQL rejects this string constant (invalid escape, NUL or invalid UTF-8)";
    internal const string ReasonUnclosed = "the call has no closing parenthesis";
    internal const string ReasonMalformed = "the argument list is malformed";
    internal const string ReasonRoutineBody = "the call is inside a routine definition, whose body runs later without the proxy";
    internal const string ReasonPrepare = "$n here is a parameter of the SQL PREPARE statement, not of the protocol";

    /// <summary>
    /// After these keywords "name(" is not a call but a definition or reference: CREATE FUNCTION recall(…),
    /// EXECUTE FUNCTION remember('trigger argument'), INSERT INTO recall (cols), WITH recall(cols) AS …,
    /// FROM t AS recall(cols), DROP FUNCTION IF EXISTS recall(text), CREATE INDEX ON recall (col) …
    /// </summary>
    private static readonly string[] NotACallAfter =
        ["function", "procedure", "routine", "aggregate", "table", "into", "view", "type", "as", "with", "recursive", "exists", "references", "on"];

    /// <summary>How many parentheses and CAST(… AS text) around a text argument are looked through.</summary>
    private const int MaxWrappers = 16;

    private readonly RewriteOptions _options;

    public CallSiteFinder(RewriteOptions options) => _options = options;

    /// <summary>Every call site in order of position, or null when the text does not lex (PostgreSQL will reject it).</summary>
    public List<MemoryCallSite>? Find(string sql, out int maxParameterNumber)
    {
        maxParameterNumber = 0;
        using var buffer = new TokenBuffer(sql.Length / 4 + 8);
        if (!SqlLexer.TryTokenize(sql, _options.StandardConformingStrings, buffer)) return null;
        var tokens = buffer.Span;
        var match = ArrayPool<int>.Shared.Rent(tokens.Length);
        var link = ArrayPool<int>.Shared.Rent(tokens.Length);
        try
        {
            MatchBrackets(tokens, match, link);
            return FindCalls(sql, tokens, match, link, ref maxParameterNumber);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(match);
            ArrayPool<int>.Shared.Return(link);
        }
    }

    /// <summary>
    /// One linear pass over the brackets, so that nested or unclosed calls (recall(recall(recall(…) cost no
    /// more than their length: <paramref name="match"/>[open] is the index of the closing bracket, -1 when
    /// there is none, -2 when the pair is malformed (")" closing "[", or a ";" inside); <paramref name="link"/>
    /// chains the commas directly inside each pair: link[open] is the first, link[comma] the next, -1 ends.
    /// </summary>
    private static void MatchBrackets(ReadOnlySpan<Token> tokens, int[] match, int[] link)
    {
        var stack = ArrayPool<(int Open, int LastComma)>.Shared.Rent(tokens.Length);
        try
        {
            var depth = 0;
            for (var i = 0; i < tokens.Length; i++)
            {
                switch (tokens[i].Kind)
                {
                    case TokenKind.OpenParen or TokenKind.OpenBracket:
                        match[i] = Unclosed;
                        link[i] = -1;
                        stack[depth++] = (i, -1);
                        break;
                    case TokenKind.CloseParen or TokenKind.CloseBracket when depth > 0:
                        var open = stack[--depth].Open;
                        var sameKind = (tokens[open].Kind == TokenKind.OpenParen) == (tokens[i].Kind == TokenKind.CloseParen);
                        match[open] = match[open] == Malformed || !sameKind ? Malformed : i;
                        if (match[open] == Malformed && depth > 0) match[stack[depth - 1].Open] = Malformed;
                        break;
                    case TokenKind.Comma when depth > 0:
                        link[i] = -1;
                        ref var frame = ref stack[depth - 1];
                        if (frame.LastComma < 0) link[frame.Open] = i;
                        else link[frame.LastComma] = i;
                        frame.LastComma = i;
                        break;
                    case TokenKind.Semicolon when depth > 0:
                        match[stack[depth - 1].Open] = Malformed;
                        break;
                }
            }
        }
        finally
        {
            ArrayPool<(int, int)>.Shared.Return(stack);
        }
    }

    private const int Unclosed = -1;
    private const int Malformed = -2;

    private List<MemoryCallSite> FindCalls(string sql, ReadOnlySpan<Token> tokens, int[] match, int[] link, ref int maxParameterNumber)
    {
        var sites = new List<MemoryCallSite>();
        var statementStarts = true;
        var statement = StatementKind.Ordinary;
        var keyword = "";
        var depth = 0;
        var atomicDepth = 0;
        for (var i = 0; i < tokens.Length; i++)
        {
            var token = tokens[i];
            if (statementStarts)
            {
                statement = ClassifyStatement(sql, tokens, i);
                keyword = token.Kind == TokenKind.Identifier ? sql.Substring(token.Start, token.Length).ToLowerInvariant() : "";
                statementStarts = false;
                depth = 0;
                atomicDepth = 0;
            }
            switch (token.Kind)
            {
                case TokenKind.Parameter:
                    maxParameterNumber = Math.Max(maxParameterNumber, token.Value);
                    break;
                case TokenKind.OpenParen or TokenKind.OpenBracket:
                    depth++;
                    break;
                case TokenKind.CloseParen or TokenKind.CloseBracket:
                    if (depth > 0) depth--;
                    break;
                case TokenKind.Semicolon:
                    if (depth == 0 && atomicDepth == 0) statementStarts = true;
                    break;
                case TokenKind.Identifier when statement == StatementKind.RoutineDefinition:
                    // A SQL-standard body (BEGIN ATOMIC … END) holds semicolons; CASE … END nests inside it.
                    if (IsKeyword(sql, token, "begin") && i + 1 < tokens.Length && IsKeyword(sql, tokens[i + 1], "atomic")) atomicDepth++;
                    else if (atomicDepth > 0 && IsKeyword(sql, token, "case")) atomicDepth++;
                    else if (atomicDepth > 0 && IsKeyword(sql, token, "end")) atomicDepth--;
                    break;
            }
            if (token.Kind is TokenKind.Identifier or TokenKind.QuotedIdentifier && i + 1 < tokens.Length && tokens[i + 1].Kind == TokenKind.OpenParen)
            {
                var function = MatchFunction(sql, token);
                if (function is not null && IsCall(sql, tokens, i))
                {
                    var site = ReadCall(sql, tokens, match, link, i, function, statement);
                    site.StatementKeyword = keyword;
                    Describe(sql, tokens, match, i + 1, site);
                    sites.Add(site);
                }
            }
        }
        return sites;
    }

    private enum StatementKind { Ordinary, RoutineDefinition, Prepare }

    /// <summary>CREATE [OR REPLACE] FUNCTION|PROCEDURE, PREPARE, or anything else.</summary>
    private static StatementKind ClassifyStatement(string sql, ReadOnlySpan<Token> tokens, int i)
    {
        if (IsKeyword(sql, tokens[i], "prepare")) return StatementKind.Prepare;
        if (!IsKeyword(sql, tokens[i], "create")) return StatementKind.Ordinary;
        var j = i + 1;
        if (j + 1 < tokens.Length && IsKeyword(sql, tokens[j], "or") && IsKeyword(sql, tokens[j + 1], "replace")) j += 2;
        return j < tokens.Length && (IsKeyword(sql, tokens[j], "function") || IsKeyword(sql, tokens[j], "procedure"))
            ? StatementKind.RoutineDefinition
            : StatementKind.Ordinary;
    }

    /// <summary>Keywords a self-contained argument may use besides function names, type names after "::" and argument names.</summary>
    private static readonly HashSet<string> ExpressionKeywords = new(StringComparer.Ordinal)
    {
        "interval", "array", "null", "true", "false", "current_date", "current_timestamp", "current_time", "localtimestamp", "localtime",
        "and", "or", "not", "is", "distinct", "from", "in", "between", "like", "ilike", "similar", "case", "when", "then", "else", "end",
        "cast", "as", "timestamp", "timestamptz", "date", "time", "with", "without", "zone", "text", "varchar", "character", "varying",
        "integer", "int", "int4", "int8", "bigint", "smallint", "real", "float", "double", "precision", "numeric", "decimal", "boolean",
        "bool", "uuid", "jsonb", "json", "vector", "at", "year", "month", "day", "hour", "minute", "second", "isnull", "notnull",
        "unknown", "current_user", "session_user", "current_role", "collate", "escape", "symmetric", "asymmetric", "any", "some", "all",
    };

    /// <summary>Fills in the argument text's extent, named arguments, parameters and whether it is self-contained.</summary>
    private static void Describe(string sql, ReadOnlySpan<Token> tokens, int[] match, int open, MemoryCallSite site)
    {
        var close = match[open];
        if (close < 0) return;
        site.ArgumentsStart = tokens[open].End;
        site.ArgumentsEnd = tokens[close].Start;
        var names = new List<string>();
        var parameters = new List<(int, int, int)>();
        var selfContained = true;
        var depth = 0;
        var arguments = close > open + 1 ? 1 : 0;
        for (var j = open + 1; j < close; j++)
        {
            var t = tokens[j];
            switch (t.Kind)
            {
                case TokenKind.OpenParen or TokenKind.OpenBracket:
                    depth++;
                    break;
                case TokenKind.CloseParen or TokenKind.CloseBracket:
                    depth--;
                    break;
                case TokenKind.Comma when depth == 0:
                    arguments++;
                    break;
                case TokenKind.Parameter:
                    parameters.Add((t.Start, t.Length, t.Value));
                    break;
                case TokenKind.Identifier or TokenKind.QuotedIdentifier:
                    var next = j + 1 < close ? tokens[j + 1].Kind : TokenKind.CloseParen;
                    var previous = tokens[j - 1].Kind;
                    if (next is TokenKind.EqualsGreater or TokenKind.ColonEquals && previous is TokenKind.OpenParen or TokenKind.Comma)
                    {
                        names.Add(t.Kind == TokenKind.Identifier ? sql.Substring(t.Start, t.Length).ToLowerInvariant()
                                                                 : LiteralDecoder.DecodeQuotedIdentifier(sql, t) ?? "");
                        break;
                    }
                    if (next is TokenKind.OpenParen or TokenKind.Dot || previous == TokenKind.TypeCast) break;
                    if (t.Kind == TokenKind.Identifier && ExpressionKeywords.Contains(sql.Substring(t.Start, t.Length).ToLowerInvariant())) break;
                    selfContained = false; // a column, a table, a subquery
                    break;
                case TokenKind.Semicolon or TokenKind.Other:
                    selfContained = false;
                    break;
            }
        }
        site.NamedArguments = names;
        site.PositionalArguments = arguments - names.Count;
        site.ArgumentParameters = parameters;
        site.SelfContained = selfContained;
    }

    /// <summary>Qualification and context: memory.recall( and recall( are calls; other.recall( and FUNCTION recall( are not.</summary>
    private bool IsCall(string sql, ReadOnlySpan<Token> tokens, int nameIndex)
    {
        var first = nameIndex;
        if (nameIndex >= 1 && tokens[nameIndex - 1].Kind == TokenKind.Dot)
        {
            if (nameIndex < 2 || !IsName(sql, tokens[nameIndex - 2], _options.Schema)) return false;
            first = nameIndex - 2;
            // database.memory.recall( is valid PostgreSQL when database is the current one.
            if (first >= 2 && tokens[first - 1].Kind == TokenKind.Dot && tokens[first - 2].Kind is TokenKind.Identifier or TokenKind.QuotedIdentifier)
                first -= 2;
        }
        if (first == 0) return true;
        var before = tokens[first - 1];
        if (before.Kind is TokenKind.Dot or TokenKind.TypeCast) return false;
        if (before.Kind != TokenKind.Identifier) return true;
        foreach (var keyword in NotACallAfter)
            if (IsKeyword(sql, before, keyword)) return false;
        return true;
    }

    private MemoryCallSite ReadCall(string sql, ReadOnlySpan<Token> tokens, int[] match, int[] link, int nameIndex, MemoryFunction function, StatementKind statement)
    {
        var start = tokens[nameIndex].Start;
        if (nameIndex >= 2 && tokens[nameIndex - 1].Kind == TokenKind.Dot)
        {
            start = tokens[nameIndex - 2].Start;
            if (nameIndex >= 4 && tokens[nameIndex - 3].Kind == TokenKind.Dot) start = tokens[nameIndex - 4].Start;
        }

        var open = nameIndex + 1;
        var close = match[open];
        if (close == Unclosed) return NotRewritable(function, start, sql.Length, ReasonUnclosed);
        if (close == Malformed) return NotRewritable(function, start, sql.Length, ReasonMalformed);
        var end = tokens[close].End;
        if (statement == StatementKind.RoutineDefinition) return NotRewritable(function, start, end, ReasonRoutineBody);

        // The arguments: the ranges between the commas directly inside the parentheses.
        Span<(int Start, int End)> inline = stackalloc (int, int)[8];
        var arguments = new ArgumentList(inline);
        var argumentStart = open + 1;
        for (var comma = link[open]; comma >= 0; comma = link[comma])
        {
            arguments.Add((argumentStart, comma));
            argumentStart = comma + 1;
        }
        if (close > open + 1) arguments.Add((argumentStart, close));

        // Positional arguments come first; then name => value (or the old name := value).
        var positional = 0;
        var seenNamed = false;
        (int Start, int End) text = (-1, -1);
        for (var a = 0; a < arguments.Count; a++)
        {
            var (s, e) = arguments[a];
            if (s >= e) return NotRewritable(function, start, end, ReasonMalformed);
            var isNamed = e - s >= 3 && tokens[s].Kind is TokenKind.Identifier or TokenKind.QuotedIdentifier
                && tokens[s + 1].Kind is TokenKind.EqualsGreater or TokenKind.ColonEquals;
            if (!isNamed)
            {
                if (!seenNamed && positional++ == function.TextPosition) text = (s, e);
                continue;
            }
            seenNamed = true;
            if (IsName(sql, tokens[s], _options.EmbeddingArgument) || IsName(sql, tokens[s], _options.ModelArgument))
                return new MemoryCallSite(function.Name, start, end, -1, CallSiteKind.AlreadyRewritten, null, 0, "the call already passes " + _options.EmbeddingArgument + " or " + _options.ModelArgument);
            if (IsName(sql, tokens[s], function.TextParameter))
            {
                if (text.Start >= 0) return NotRewritable(function, start, end, ReasonTwice);
                text = (s + 2, e);
            }
        }
        if (text.Start < 0) return NotRewritable(function, start, end, ReasonMissing);
        return ClassifyText(sql, tokens, match, text.Start, text.End, function, start, end, tokens[close].Start, statement);
    }

    /// <summary>The text argument: a string constant or $n, each optionally cast to text, in parentheses or CAST(… AS text).</summary>
    private MemoryCallSite ClassifyText(string sql, ReadOnlySpan<Token> tokens, int[] match, int s, int e, MemoryFunction function, int start, int end, int insertAt, StatementKind statement)
    {
        for (var wrappers = 0; ; wrappers++)
        {
            if (wrappers == MaxWrappers) return NotRewritable(function, start, end, ReasonExpression);
            // (value)
            if (e - s >= 3 && tokens[s].Kind == TokenKind.OpenParen && match[s] == e - 1)
            {
                s++;
                e--;
                continue;
            }
            // CAST(value AS text)
            if (e - s >= 6 && IsKeyword(sql, tokens[s], "cast") && tokens[s + 1].Kind == TokenKind.OpenParen && match[s + 1] == e - 1)
            {
                var asIndex = FindTopLevelAs(sql, tokens, match, s + 2, e - 1);
                var typeEnd = asIndex + 1;
                if (asIndex < 0 || !TryTextType(sql, tokens, ref typeEnd, e - 1) || typeEnd != e - 1)
                    return NotRewritable(function, start, end, ReasonExpression);
                s += 2;
                e = asIndex;
                continue;
            }
            break;
        }
        if (s >= e) return NotRewritable(function, start, end, ReasonExpression);
        // value::text::varchar …
        for (var j = s + 1; j < e;)
        {
            if (tokens[j].Kind != TokenKind.TypeCast) return NotRewritable(function, start, end, ReasonExpression);
            j++;
            if (!TryTextType(sql, tokens, ref j, e)) return NotRewritable(function, start, end, ReasonExpression);
        }
        var head = tokens[s];
        if (head.Kind == TokenKind.Parameter)
        {
            if (head.Value == 0) return NotRewritable(function, start, end, ReasonExpression);
            if (statement == StatementKind.Prepare) return NotRewritable(function, start, end, ReasonPrepare);
            return new MemoryCallSite(function.Name, start, end, insertAt, CallSiteKind.Parameter, null, head.Value, null);
        }
        if (head.Kind != TokenKind.String) return NotRewritable(function, start, end, ReasonExpression);
        if (head.Form is StringForm.Bit or StringForm.Hex) return NotRewritable(function, start, end, ReasonNotText);
        var value = LiteralDecoder.DecodeString(sql, head, _options.StandardConformingStrings);
        return value is null
            ? NotRewritable(function, start, end, ReasonInvalidLiteral)
            : new MemoryCallSite(function.Name, start, end, insertAt, CallSiteKind.Literal, value, 0, null);
    }

    /// <summary>text, varchar, character varying, char varying, optionally pg_catalog-qualified; no type modifier, no array.</summary>
    private static bool TryTextType(string sql, ReadOnlySpan<Token> tokens, ref int j, int end)
    {
        var k = j;
        if (k + 1 < end && IsName(sql, tokens[k], "pg_catalog") && tokens[k + 1].Kind == TokenKind.Dot) k += 2;
        if (k < end && (IsName(sql, tokens[k], "text") || IsName(sql, tokens[k], "varchar"))) k++;
        else if (k + 1 < end && (IsKeyword(sql, tokens[k], "character") || IsKeyword(sql, tokens[k], "char")) && IsKeyword(sql, tokens[k + 1], "varying")) k += 2;
        else return false;
        if (k < end && tokens[k].Kind != TokenKind.TypeCast) return false; // varchar(10) truncates, text[] is an array
        j = k;
        return true;
    }

    /// <summary>The AS of CAST(… AS …), skipping nested brackets.</summary>
    private static int FindTopLevelAs(string sql, ReadOnlySpan<Token> tokens, int[] match, int s, int e)
    {
        for (var j = s; j < e; j++)
        {
            if (tokens[j].Kind is TokenKind.OpenParen or TokenKind.OpenBracket)
            {
                if (match[j] < 0) return -1;
                j = match[j];
            }
            else if (IsKeyword(sql, tokens[j], "as")) return j;
        }
        return -1;
    }

    private static MemoryCallSite NotRewritable(MemoryFunction function, int start, int end, string reason) =>
        new(function.Name, start, end, -1, CallSiteKind.NotRewritable, null, 0, reason);

    private MemoryFunction? MatchFunction(string sql, in Token token)
    {
        foreach (var function in _options.Functions)
            if (IsName(sql, token, function.Name)) return function;
        return null;
    }

    /// <summary>An unquoted keyword (PostgreSQL folds ASCII letters to lower case).</summary>
    private static bool IsKeyword(string sql, in Token token, string lowerKeyword) =>
        token.Kind == TokenKind.Identifier && token.Length == lowerKeyword.Length && Ascii.EqualsIgnoreCase(sql.AsSpan(token.Start, token.Length), lowerKeyword);

    /// <summary>An identifier naming <paramref name="lowerName"/>: unquoted in any case, or quoted exactly ("recall", U&amp;"…").</summary>
    private static bool IsName(string sql, in Token token, string lowerName)
    {
        if (token.Kind == TokenKind.Identifier) return IsKeyword(sql, token, lowerName);
        if (token.Kind != TokenKind.QuotedIdentifier) return false;
        if (sql[token.Start] == '"')
        {
            // The common case, "recall", compares without decoding.
            if (token.Length == lowerName.Length + 2) return sql.AsSpan(token.Start + 1, lowerName.Length).SequenceEqual(lowerName);
            if (token.Length < lowerName.Length + 2) return false;
        }
        return string.Equals(LiteralDecoder.DecodeQuotedIdentifier(sql, token), lowerName, StringComparison.Ordinal);
    }

    /// <summary>Argument ranges, on the stack for up to eight arguments.</summary>
    private ref struct ArgumentList(Span<(int Start, int End)> inline)
    {
        private Span<(int Start, int End)> _items = inline;

        public int Count { get; private set; }

        public readonly (int Start, int End) this[int index] => _items[index];

        public void Add((int Start, int End) range)
        {
            if (Count == _items.Length)
            {
                var bigger = new (int, int)[_items.Length * 2];
                _items.CopyTo(bigger);
                _items = bigger;
            }
            _items[Count++] = range;
        }
    }
}
