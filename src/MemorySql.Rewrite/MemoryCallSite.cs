namespace MemorySql.Rewrite;

/// <summary>One call of a memory routine found in a statement, rewritable or not.</summary>
public sealed class MemoryCallSite
{
    internal MemoryCallSite(string functionName, int start, int end, int insertAt, CallSiteKind kind, string? literalText, int parameterNumber, string? reason)
    {
        FunctionName = functionName;
        Start = start;
        End = end;
        InsertAt = insertAt;
        Kind = kind;
        LiteralText = literalText;
        ParameterNumber = parameterNumber;
        Reason = reason;
    }

    /// <summary>The routine, as configured (<c>recall</c>), however the SQL spelled it.</summary>
    public string FunctionName { get; }

    /// <summary>Offset of the first character of the (possibly schema-qualified) name in the SQL text.</summary>
    public int Start { get; }

    /// <summary>Offset just past the closing parenthesis (the end of the text when it is missing).</summary>
    public int End { get; }

    /// <summary>Where the extra arguments go: the offset of the closing parenthesis; -1 when not rewritable.</summary>
    public int InsertAt { get; }

    public CallSiteKind Kind { get; }

    /// <summary>The decoded text when <see cref="Kind"/> is <see cref="CallSiteKind.Literal"/>, exactly as the routine receives it.</summary>
    public string? LiteralText { get; }

    /// <summary>n of the client's $n holding the text when <see cref="Kind"/> is <see cref="CallSiteKind.Parameter"/>; 0 otherwise.</summary>
    public int ParameterNumber { get; }

    /// <summary>Why the call is left alone, when it is.</summary>
    public string? Reason { get; }

    /// <summary>Index into <see cref="RewritePlan.LiteralTexts"/> for a literal site of a plan; -1 otherwise.</summary>
    public int LiteralIndex { get; internal set; } = -1;

    public override string ToString() => Kind switch
    {
        CallSiteKind.Literal => $"{FunctionName}@{Start}: literal '{LiteralText}'",
        CallSiteKind.Parameter => $"{FunctionName}@{Start}: parameter ${ParameterNumber}",
        _ => $"{FunctionName}@{Start}: {Kind} ({Reason})",
    };
}
