namespace MemorySql.Workers.Contradictions;

/// <summary>Decides whether a newer memory contradicts or updates an older one about the same subject.</summary>
internal interface IContradictionJudge
{
    /// <summary>"heuristic" or "llm".</summary>
    string Method { get; }

    /// <summary>Judges one pair. The LLM judge throws <see cref="MemorySql.Embeddings.Llm.LlmException"/> when the model fails.</summary>
    Task<Judgement> JudgeAsync(StatementPair pair, CancellationToken cancellationToken);
}
