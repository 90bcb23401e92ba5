using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Contradictions;

/// <summary>How a newer memory relates to an older one about the same subject.</summary>
internal enum ContradictionVerdict
{
    /// <summary>Both can hold at once (different attributes, more detail, the same fact reworded).</summary>
    Unrelated,
    /// <summary>They cannot both be true and it is not simply a later change (a correction, a conflicting report).</summary>
    Contradicts,
    /// <summary>The newer states a changed value of the same attribute: the older is no longer current.</summary>
    Updates,
}

/// <summary>Which of the two memories holds now, as far as the judge can tell.</summary>
internal enum CurrentSide
{
    Newer,
    Older,
    Unclear,
}

/// <summary>A judge's answer about one pair: what, which side is current, how sure, why, and who decided.</summary>
/// <param name="Method">"heuristic" or "llm", as recorded with the contradiction.</param>
/// <param name="Usage">LLM tokens the judgement cost, all attempts (none for heuristics).</param>
/// <param name="LlmError">Why the LLM's answer was not used, when heuristics stood in for it.</param>
/// <param name="OfflineReason">Why the LLM was not asked at all (the workspace's budget is spent, policy llm.enabled = false), when heuristics stood in for it.</param>
internal sealed record Judgement(ContradictionVerdict Verdict, CurrentSide Current, double Confidence, string Reason, string Method,
    LlmUsage Usage = default, string? LlmError = null, string? OfflineReason = null)
{
    public bool IsConflict => Verdict != ContradictionVerdict.Unrelated;

    /// <summary>LLM tokens the judgement cost (0 for heuristics).</summary>
    public int Tokens => Usage.TotalTokens;

    public static Judgement Unrelated(string method, string reason, LlmUsage usage = default) =>
        new(ContradictionVerdict.Unrelated, CurrentSide.Unclear, 0, reason, method, usage);

    /// <summary>The verdict as the SQL API spells it (contradicts, updates).</summary>
    public string VerdictName => Verdict == ContradictionVerdict.Updates ? "updates" : "contradicts";
}

/// <summary>Two memories to compare; "newer" is the later by valid time.</summary>
/// <param name="Episodic">Both are episodic (events): two events at different times or of different sizes are not a changed value.</param>
internal sealed record StatementPair(string Older, string Newer, string? Entity, DateTimeOffset OlderValidFrom, DateTimeOffset NewerValidFrom, bool Episodic);
