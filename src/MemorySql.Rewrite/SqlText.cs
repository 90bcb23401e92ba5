namespace MemorySql.Rewrite;

/// <summary>
/// Writes a value as a SQL string constant that means the same whatever standard_conforming_strings is:
/// '…' with quotes doubled, or E'…' (backslashes doubled too) when the value holds a backslash.
/// </summary>
public static class SqlText
{
    /// <summary>The value as a SQL string constant (see the class summary).</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return string.Create(QuotedLength(value), value, static (span, v) => WriteQuoted(span, v));
    }

    public static int QuotedLength(string value)
    {
        // Vectors and model names never need escaping: one vectorised look settles it.
        if (value.AsSpan().IndexOfAny('\'', '\\') < 0) return value.Length + 2;
        var quotes = value.AsSpan().Count('\'');
        var backslashes = value.AsSpan().Count('\\');
        return value.Length + quotes + backslashes + 2 + (backslashes > 0 ? 1 : 0);
    }

    public static int WriteQuoted(Span<char> destination, string value)
    {
        var source = value.AsSpan();
        var w = 0;
        if (source.Contains('\\')) destination[w++] = 'E';
        destination[w++] = '\'';
        if (source.IndexOfAny('\'', '\\') < 0)
        {
            source.CopyTo(destination[w..]);
            w += source.Length;
        }
        else
        {
            foreach (var c in source)
            {
                if (c is '\'' or '\\') destination[w++] = c;
                destination[w++] = c;
            }
        }
        destination[w++] = '\'';
        return w;
    }
}
