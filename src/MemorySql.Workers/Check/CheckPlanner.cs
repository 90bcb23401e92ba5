using MemorySql.Workers.Contradictions;
using MemorySql.Workers.Dedup;

namespace MemorySql.Workers.Check;

/// <summary>
/// Decides what one check changes (docs/lifecycle.md): for each neighbour, best first —
/// <list type="number">
/// <item>at or above the dedup threshold, same type, and no conflict in the wording (the heuristics look at
/// every such pair, so "likes X" never swallows "does not like X"): merge, the older absorbing the newer
/// (<see cref="MergeRules"/>); an archived neighbour is revived;</item>
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
    public async Task<CheckPlan> PlanAsync(CheckedMemory item, IReadOnlyList<Neighbour> neighbours, CheckPolicy policy, bool lastLlmAttempt,
        Dictionary<Guid, Judgement> judged, CancellationToken cancellationToken)
    {
        var actions = new List<CheckAction>();
        var llmCalls = 0;
        var tokens = 0;
        var fallbacks = 0;
        var lowest = Math.Min(policy.DedupThreshold, policy.ContradictionThreshold);
        foreach (var neighbour in neighbours.Where(n => n.Similarity >= lowest).OrderByDescending(n => n.Similarity))
        {
            var itemIsNewer = (item.ValidFrom, item.CreatedAt, item.Id).CompareTo((neighbour.ValidFrom, neighbour.CreatedAt, neighbour.Id)) > 0;
            var pair = itemIsNewer
                ? new StatementPair(neighbour.Content, item.Content, item.Entity, neighbour.ValidFrom, item.ValidFrom, Episodic(item, neighbour))
                : new StatementPair(item.Content, neighbour.Content, item.Entity, item.ValidFrom, neighbour.ValidFrom, Episodic(item, neighbour));
            var archived = neighbour.Status == "archived";

            if (neighbour.Similarity >= policy.DedupThreshold && neighbour.Type == item.Type &&
                !ContradictionHeuristics.Judge(pair).IsConflict)
            {
                var direction = MergeRules.Direction(
                    new MergeSide(item.Id, item.CreatedAt, item.Pinned, Archived: false),
                    new MergeSide(neighbour.Id, neighbour.CreatedAt, neighbour.Pinned, archived));
                if (direction is { } merge)
                {
                    actions.Add(new MergeAction(merge.Duplicate, merge.Survivor, neighbour.Similarity));
                    if (merge.Duplicate == item.Id) break;  // the checked memory is gone into the other
                }
                continue;
            }
            if (archived || neighbour.Similarity < policy.ContradictionThreshold || item.Layer != "item") continue;

            if (!judged.TryGetValue(neighbour.Id, out var judgement))
            {
                judgement = await _judges.JudgeAsync(pair, lastLlmAttempt, cancellationToken);
                judged[neighbour.Id] = judgement;
                if (judgement.Method == "llm" || judgement.LlmError is not null) llmCalls++;
                if (judgement.LlmError is not null) fallbacks++;
                tokens += judgement.Tokens;
            }
            if (!judgement.IsConflict) continue;
            var resolve = policy.AutoResolve && judgement.Current == CurrentSide.Newer && judgement.Confidence >= policy.MinConfidence;
            var (newer, older) = itemIsNewer ? (item.Id, neighbour.Id) : (neighbour.Id, item.Id);
            actions.Add(new ContradictionAction(newer, older, judgement, neighbour.Similarity, resolve));
            if (resolve && older == item.Id) break;  // the checked memory is superseded
        }
        return new CheckPlan(actions, llmCalls, tokens, fallbacks);
    }

    private static bool Episodic(CheckedMemory item, Neighbour neighbour) => item.Type == "episodic" && neighbour.Type == "episodic";
}
