using MemorySql.Embeddings.Llm;

namespace MemorySql.Workers.Contradictions;

/// <summary>
/// What the LLM judge may do for one check, and where its cost goes: the workspace's permission and token budget
/// (memory.llm_budget), asked before the LLM is called, and its usage (memory.llm_usage), written after every call
/// that reached the model, failed calls included.
/// </summary>
internal interface ILlmJudgeScope
{
    /// <summary>Why the LLM must not be asked now (budget spent, LLM disabled by policy), or null when it may.</summary>
    Task<string?> OfflineReasonAsync(CancellationToken cancellationToken);

    /// <summary>Records one call: its tokens (all attempts) and, when it gave no usable answer, why.</summary>
    Task RecordAsync(LlmUsage usage, string? error, CancellationToken cancellationToken);
}
