namespace MemorySql.Workers.Contradictions;

/// <summary>
/// A statement reduced to what the heuristics compare: lower-case stemmed content words in order, the
/// subject replaced by <see cref="StatementNormalizer.Subject"/>, negations taken out and counted.
/// </summary>
/// <param name="Tokens">The words without negations, articles and fillers, stemmed.</param>
/// <param name="Negated">An odd number of negations (not, never, no, no longer, n't).</param>
internal sealed record NormalizedStatement(IReadOnlyList<string> Tokens, bool Negated)
{
    public override string ToString() => (Negated ? "NOT " : "") + string.Join(' ', Tokens);
}
