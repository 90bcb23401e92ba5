namespace MemorySql.Rewrite;

/// <summary>What the rewriter looks for and what it adds. <see cref="Default"/> matches docs/architecture.md.</summary>
public sealed class RewriteOptions
{
    /// <summary>recall(query …), remember(content …), revise(id, content …), reflect(query …) in schema memory.</summary>
    public static RewriteOptions Default { get; } = new();

    /// <summary>The routines to rewrite and where their text argument is.</summary>
    public IReadOnlyList<MemoryFunction> Functions { get; init; } =
    [
        new("recall", 0, "query"),
        new("remember", 0, "content"),
        new("revise", 1, "content"),
        new("reflect", 0, "query"),
    ];

    /// <summary>The schema a qualified call may name (<c>memory.recall(…)</c>); calls qualified with any other schema are left alone.</summary>
    public string Schema { get; init; } = "memory";

    /// <summary>The named argument that carries the vector.</summary>
    public string EmbeddingArgument { get; init; } = "_embedding";

    /// <summary>The named argument that carries the model name.</summary>
    public string ModelArgument { get; init; } = "_model";

    /// <summary>
    /// The session's <c>standard_conforming_strings</c>. On (PostgreSQL's default since 9.1): backslashes in
    /// <c>'…'</c> are ordinary characters. Off: <c>'…'</c> takes backslash escapes like <c>E'…'</c>, and
    /// <c>U&amp;'…'</c> is rejected by PostgreSQL, so such calls are left alone.
    /// </summary>
    public bool StandardConformingStrings { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (Functions is null || Functions.Count == 0)
            throw new ArgumentException("RewriteOptions.Functions must name at least one memory routine.", nameof(Functions));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in Functions)
        {
            if (f is null) throw new ArgumentException("RewriteOptions.Functions contains null.", nameof(Functions));
            RequireIdentifier(f.Name, $"function name '{f.Name}'", minLength: 2);
            RequireIdentifier(f.TextParameter, $"text parameter '{f.TextParameter}' of {f.Name}", minLength: 1);
            if (f.TextPosition < 0)
                throw new ArgumentException($"The text position of {f.Name} is {f.TextPosition}; positions start at 0.", nameof(Functions));
            if (!seen.Add(f.Name))
                throw new ArgumentException($"The function {f.Name} is listed twice in RewriteOptions.Functions.", nameof(Functions));
        }
        RequireIdentifier(Schema, $"schema '{Schema}'", minLength: 1);
        RequireIdentifier(EmbeddingArgument, $"embedding argument '{EmbeddingArgument}'", minLength: 1);
        RequireIdentifier(ModelArgument, $"model argument '{ModelArgument}'", minLength: 1);
        if (EmbeddingArgument == ModelArgument)
            throw new ArgumentException("The embedding and model arguments must have different names.", nameof(ModelArgument));
    }

    /// <summary>
    /// Names are compared the way PostgreSQL folds unquoted identifiers, so they must be lower-case ASCII
    /// identifiers; the prefilter's two-byte anchor needs function names of at least two characters.
    /// </summary>
    private static void RequireIdentifier(string? value, string what, int minLength)
    {
        if (string.IsNullOrEmpty(value) || value.Length < minLength || !IsLowerAsciiIdentifier(value))
            throw new ArgumentException(
                $"The {what} is not usable: it must be an unquoted lower-case ASCII SQL identifier " +
                $"([a-z_][a-z0-9_$]*) of at least {minLength} character(s).");
    }

    private static bool IsLowerAsciiIdentifier(string value)
    {
        if (value[0] is not ((>= 'a' and <= 'z') or '_')) return false;
        foreach (var c in value)
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '$')) return false;
        return true;
    }
}
