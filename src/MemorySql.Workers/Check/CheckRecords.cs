using MemorySql.Workers.Contradictions;

namespace MemorySql.Workers.Check;

/// <summary>A leased memory.check_queue row.</summary>
internal sealed record ClaimedCheck(Guid MemoryId, string Workspace, string Model, int Attempts, int LlmAttempts);

/// <summary>The memory being checked, as it is now.</summary>
internal sealed record CheckedMemory(Guid Id, string Workspace, string? Entity, string Layer, string Type, string Status, bool Pinned,
    string Content, DateTimeOffset CreatedAt, DateTimeOffset ValidFrom);

/// <summary>A neighbour from memory.check_candidates.</summary>
internal sealed record Neighbour(Guid Id, double Similarity, string Content, string Type, string Layer, string Status, bool Pinned,
    DateTimeOffset CreatedAt, DateTimeOffset ValidFrom);

/// <summary>The policy of a workspace for one model, as the check applies it.</summary>
internal sealed record CheckPolicy(double DedupThreshold, double ContradictionThreshold, bool AutoResolve, double MinConfidence);

/// <summary>One change a check decided on; applied in order, in one transaction, by <see cref="CheckStore.ApplyAsync"/>.</summary>
internal abstract record CheckAction;

/// <summary>Merge <paramref name="Duplicate"/> into <paramref name="Survivor"/> (memory.merge_duplicate).</summary>
internal sealed record MergeAction(Guid Duplicate, Guid Survivor, double Similarity) : CheckAction;

/// <summary>Record a contradiction (memory.record_contradiction); <paramref name="Resolve"/> supersedes the older at once.</summary>
internal sealed record ContradictionAction(Guid Newer, Guid Older, Judgement Judgement, double Similarity, bool Resolve) : CheckAction;

/// <summary>What a check decided: the changes, and what it cost.</summary>
/// <param name="LlmFallbacks">Pairs the heuristics judged because the LLM failed.</param>
/// <param name="LlmOffline">Pairs the heuristics judged because the workspace may not use the LLM now (budget spent, llm.enabled = false).</param>
internal sealed record CheckPlan(IReadOnlyList<CheckAction> Actions, int LlmCalls, int LlmTokens, int LlmFallbacks, int LlmOffline);

/// <summary>How applying a plan ended.</summary>
internal enum ApplyOutcome
{
    /// <summary>Every change applied and the queue row deleted, in one transaction.</summary>
    Applied,
    /// <summary>A memory changed since the plan was made (another check, a person): nothing applied; plan again.</summary>
    Stale,
    /// <summary>The lease ran out and another worker holds the row now: nothing applied, nothing to do.</summary>
    LostClaim,
}
