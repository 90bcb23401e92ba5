namespace MemorySql.Workers.Contradictions;

/// <summary>The offline judge: <see cref="ContradictionHeuristics"/>, honest about being simpler than an LLM.</summary>
internal sealed class HeuristicJudge : IContradictionJudge
{
    public static readonly HeuristicJudge Instance = new();

    public string Method => ContradictionHeuristics.Method;

    public Task<Judgement> JudgeAsync(StatementPair pair, CancellationToken cancellationToken) =>
        Task.FromResult(ContradictionHeuristics.Judge(pair));
}
