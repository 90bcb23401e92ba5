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
/// Which judge decides a pair. With an LLM: the LLM; when it fails transiently (timeout, 429, 5xx) the
/// check is retried later (<see cref="LlmRetryException"/>), up to the last allowed LLM attempt; after that,
/// or when its answer is unusable (not transient), the heuristics decide and the judgement says why
/// (<see cref="Judgement.LlmError"/>). Without an LLM: the heuristics. With an LLM the workspace may not use now
/// (policy llm.enabled false, its daily token budget spent): the heuristics, saying why (<see cref="Judgement.OfflineReason"/>).
/// </summary>
internal sealed class JudgeChain
{
    private readonly IContradictionJudge? _llm;

    public JudgeChain(IContradictionJudge? llm) => _llm = llm;

    public bool HasLlm => _llm is not null;

    /// <param name="offlineReason">Why the pair's workspace must not use the LLM now (memory.llm_budget), or null when it may.</param>
    public async Task<Judgement> JudgeAsync(StatementPair pair, bool lastLlmAttempt, string? offlineReason, CancellationToken cancellationToken)
    {
        if (_llm is null) return ContradictionHeuristics.Judge(pair);
        if (offlineReason is not null) return ContradictionHeuristics.Judge(pair) with { OfflineReason = offlineReason };
        try
        {
            return await _llm.JudgeAsync(pair, cancellationToken);
        }
        catch (LlmException e) when (e.IsTransient && !lastLlmAttempt)
        {
            throw new LlmRetryException(e.Message, e);
        }
        catch (LlmException e)
        {
            return ContradictionHeuristics.Judge(pair) with { LlmError = e.Message, Tokens = e.Usage.TotalTokens, Usage = e.Usage };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A provider bug or an unwrapped error: the check must not loop on it, so the heuristics decide.
            return ContradictionHeuristics.Judge(pair) with { LlmError = $"{e.GetType().Name}: {e.Message}" };
        }
    }
}
