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

    /// <summary>Offset of the first character after the call's "(" (the argument text starts here); -1 when the call is malformed.</summary>
    public int ArgumentsStart { get; internal set; } = -1;

    /// <summary>Offset of the call's ")" (the argument text ends here); -1 when the call is malformed.</summary>
    public int ArgumentsEnd { get; internal set; } = -1;

    /// <summary>The names of the arguments passed by name (<c>k => 5</c>), as PostgreSQL sees them (unquoted names folded to lower case).</summary>
    public IReadOnlyList<string> NamedArguments { get; internal set; } = [];

    /// <summary>How many arguments are passed by position (before the named ones).</summary>
    public int PositionalArguments { get; internal set; }

    /// <summary>Every $n in the argument text: its offset, length and n, in order.</summary>
    public IReadOnlyList<(int Start, int Length, int Number)> ArgumentParameters { get; internal set; } = [];

    /// <summary>
    /// True when the arguments can be evaluated on their own, outside the statement: only constants, parameters,
    /// operators, casts, function calls and keywords — no column or table reference, no subquery. Such a call's
    /// argument text can be copied into another statement (the proxy does, to ask what reflect would recall).
    /// </summary>
    public bool SelfContained { get; internal set; }

    /// <summary>The first word of the statement the call is in, lower case ("select", "with", "call", "create", …); empty when none.</summary>
    public string StatementKeyword { get; internal set; } = "";

    public override string ToString() => Kind switch
    {
        CallSiteKind.Literal => $"{FunctionName}@{Start}: literal '{LiteralText}'",
        CallSiteKind.Parameter => $"{FunctionName}@{Start}: parameter ${ParameterNumber}",
        _ => $"{FunctionName}@{Start}: {Kind} ({Reason})",
    };
}
