namespace MemorySql.Rewrite;

/// <summary>What the rewriter can do with one call of a memory routine.</summary>
public enum CallSiteKind
{
    /// <summary>The text is a string constant: its embedding can be computed now and inlined.</summary>
    Literal,
    /// <summary>The text is a parameter $n (possibly cast to text): its embedding is bound with each execution.</summary>
    Parameter,
    /// <summary>The call already passes the embedding or model argument: left as it is (rewriting is idempotent).</summary>
    AlreadyRewritten,
    /// <summary>The text is a column, an expression or missing, or the call sits where no embedding may be added: left as it is.</summary>
    NotRewritable,
}
