using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Contradictions;

/// <summary>An LLM failure that trying later may fix: the check is put back with a delay instead of being decided without it.</summary>
internal sealed class LlmRetryException : Exception
{
    public LlmRetryException() { }
    public LlmRetryException(string message) : base(message) { }
    public LlmRetryException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Which judge decides a pair. With an LLM: first the workspace's permission and budget
/// (<see cref="ILlmJudgeScope.OfflineReasonAsync"/>) — when the LLM may not be used, the heuristics decide and
/// the judgement says why (<see cref="Judgement.OfflineReason"/>); else the LLM, and every call is recorded
/// (<see cref="ILlmJudgeScope.RecordAsync"/>). When it fails transiently (timeout, 429, 5xx) the check is retried
/// later (<see cref="LlmRetryException"/>), up to the last allowed LLM attempt; after that, or when its answer is
/// unusable (not transient), the heuristics decide and the judgement says why (<see cref="Judgement.LlmError"/>).
/// Without an LLM: the heuristics.
/// </summary>
internal sealed class JudgeChain
{
    private readonly IContradictionJudge? _llm;

    public JudgeChain(IContradictionJudge? llm) => _llm = llm;

    public bool HasLlm => _llm is not null;

    /// <param name="scope">The budget and usage of the workspace the pair belongs to; null: no budget check, nothing recorded.</param>
    public async Task<Judgement> JudgeAsync(StatementPair pair, bool lastLlmAttempt, ILlmJudgeScope? scope, CancellationToken cancellationToken)
    {
        if (_llm is null) return ContradictionHeuristics.Judge(pair);
        if (scope is not null && await scope.OfflineReasonAsync(cancellationToken) is { } offline)
            return ContradictionHeuristics.Judge(pair) with { OfflineReason = offline };
        Judgement judgement;
        try
        {
            judgement = await _llm.JudgeAsync(pair, cancellationToken);
        }
        catch (LlmException e)
        {
            if (scope is not null) await scope.RecordAsync(e.Usage, e.Message, cancellationToken);
            if (e.IsTransient && !lastLlmAttempt) throw new LlmRetryException(e.Message, e);
            return ContradictionHeuristics.Judge(pair) with { LlmError = e.Message, Usage = e.Usage };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A provider bug or an unwrapped error: the check must not loop on it, so the heuristics decide.
            var error = $"{e.GetType().Name}: {e.Message}";
            if (scope is not null) await scope.RecordAsync(default, error, cancellationToken);
            return ContradictionHeuristics.Judge(pair) with { LlmError = error };
        }
        if (scope is not null) await scope.RecordAsync(judgement.Usage, null, cancellationToken);
        return judgement;
    }
}
