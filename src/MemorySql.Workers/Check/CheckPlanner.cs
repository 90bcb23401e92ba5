using MemorySql.Workers.Contradictions;
using MemorySql.Workers.Dedup;

namespace MemorySql.Workers.Check;

/// <summary>
/// Decides what one check changes (docs/lifecycle.md): for each neighbour, best first —
/// <list type="number">
/// <item>at or above the dedup threshold, same type, and no conflict in the wording (the heuristics look at
/// every such pair, so "likes X" never swallows "does not like X"): merge, the older absorbing the newer
/// (<see cref="MergeRules"/>) — a duplicate goes straight into the oldest memory that may absorb it; an
/// archived neighbour is revived;</item>
/// <item>at or above the contradiction threshold, both active items: judge (LLM, else heuristics); a conflict
/// whose current side is the newer, with enough confidence and auto_resolve on, supersedes the older;
/// any other conflict opens a case for a person.</item>
/// </list>
/// Stops as soon as the checked memory itself is absorbed or superseded.
/// </summary>
internal sealed class CheckPlanner
{
    private readonly JudgeChain _judges;

    public CheckPlanner(JudgeChain judges) => _judges = judges;

    /// <param name="judged">Judgements already made for this memory (by neighbour id), reused when a stale plan is made again.</param>
    /// <param name="llmScope">The workspace's LLM budget and usage for this check (see <see cref="JudgeChain"/>); null: no budget, nothing recorded.</param>
    public async Task<CheckPlan> PlanAsync(CheckedMemory item, IReadOnlyList<Neighbour> neighbours, CheckPolicy policy, bool lastLlmAttempt,
        Dictionary<Guid, Judgement> judged, ILlmJudgeScope? llmScope, CancellationToken cancellationToken)
    {
        var actions = new List<CheckAction>();
        var lowest = Math.Min(policy.DedupThreshold, policy.ContradictionThreshold);
        var close = neighbours.Where(n => n.Similarity >= lowest)
            .OrderByDescending(n => n.Similarity).ThenBy(n => n.CreatedAt).ThenBy(n => n.Id).ToList();
        var pairs = close.ToDictionary(n => n.Id, n => Pair(item, n));

        // Duplicates first. When the checked memory is itself a duplicate, it goes into the oldest memory that
        // may absorb it (straight to the first version, never along a chain) and there is nothing more to check.
        var duplicates = close.Where(n => n.Similarity >= policy.DedupThreshold && n.Type == item.Type &&
                                          !ContradictionHeuristics.Judge(pairs[n.Id]).IsConflict).ToList();
        var self = new MergeSide(item.Id, item.CreatedAt, item.Pinned, Archived: false);
        var directions = duplicates.Select(n => (Neighbour: n, Direction: MergeRules.Direction(self, Side(n)))).ToList();
        var into = directions.Where(d => d.Direction?.Duplicate == item.Id).Select(d => d.Neighbour)
            .OrderBy(n => n.CreatedAt).ThenBy(n => n.Id).FirstOrDefault();
        if (into is not null)
        {
            actions.Add(new MergeAction(item.Id, into.Id, into.Similarity));
            return new CheckPlan(actions, 0, 0, 0, 0);
        }
        foreach (var (neighbour, direction) in directions)
        {
            if (direction is { } merge) actions.Add(new MergeAction(merge.Duplicate, merge.Survivor, neighbour.Similarity));
        }

        // Then conflicts with the other close neighbours (both active items).
        var llmCalls = 0;
        var tokens = 0;
        var fallbacks = 0;
        var offline = 0;
        if (item.Layer != "item") return new CheckPlan(actions, 0, 0, 0, 0);
        foreach (var neighbour in close)
        {
            if (duplicates.Contains(neighbour) || neighbour.Status != "active" || neighbour.Similarity < policy.ContradictionThreshold) continue;
            if (!judged.TryGetValue(neighbour.Id, out var judgement))
            {
                judgement = await _judges.JudgeAsync(pairs[neighbour.Id], lastLlmAttempt, llmScope, cancellationToken);
                judged[neighbour.Id] = judgement;
                if (judgement.Method == "llm" || judgement.LlmError is not null) llmCalls++;
                if (judgement.LlmError is not null) fallbacks++;
                if (judgement.OfflineReason is not null) offline++;
                tokens += judgement.Tokens;
            }
            if (!judgement.IsConflict) continue;
            var resolve = policy.AutoResolve && judgement.Current == CurrentSide.Newer && judgement.Confidence >= policy.MinConfidence;
            var (newer, older) = IsNewer(item, neighbour) ? (item.Id, neighbour.Id) : (neighbour.Id, item.Id);
            actions.Add(new ContradictionAction(newer, older, judgement, neighbour.Similarity, resolve));
            if (resolve && older == item.Id) break;  // the checked memory is superseded
        }
        return new CheckPlan(actions, llmCalls, tokens, fallbacks, offline);
    }

    private static MergeSide Side(Neighbour n) => new(n.Id, n.CreatedAt, n.Pinned, n.Status == "archived");

    // "Newer" in valid time (what as_of follows), then by when it was recorded.
    private static bool IsNewer(CheckedMemory item, Neighbour neighbour) =>
        (item.ValidFrom, item.CreatedAt, item.Id).CompareTo((neighbour.ValidFrom, neighbour.CreatedAt, neighbour.Id)) > 0;

    private static StatementPair Pair(CheckedMemory item, Neighbour neighbour) => IsNewer(item, neighbour)
        ? new StatementPair(neighbour.Content, item.Content, item.Entity, neighbour.ValidFrom, item.ValidFrom, Episodic(item, neighbour))
        : new StatementPair(item.Content, neighbour.Content, item.Entity, item.ValidFrom, neighbour.ValidFrom, Episodic(item, neighbour));

    private static bool Episodic(CheckedMemory item, Neighbour neighbour) => item.Type == "episodic" && neighbour.Type == "episodic";
}
