namespace MemorySql.Embeddings.Llm;

/// <summary>
/// A chat model behind an OpenAI-compatible /v1/chat/completions endpoint (OpenAI, Azure, Ollama, vLLM,
/// LM Studio). Lives beside the embedding providers because both are model providers with the same HTTP
/// concerns (timeouts, retries, bounded concurrency) and the same users (the proxy and the workers).
/// The provider does not write to the database: callers record <see cref="LlmResult.Usage"/> per workspace.
/// </summary>
public interface ILlmProvider
{
    /// <summary>The model name sent to the endpoint and recorded with token usage.</summary>
    string Model { get; }

    /// <summary>
    /// Runs one chat completion. With <see cref="LlmRequest.JsonSchema"/> set, the answer is validated
    /// against it (one repair attempt on invalid JSON) and returned in <see cref="LlmResult.Json"/>.
    /// Throws <see cref="LlmException"/> after its retries; cancellation throws OperationCanceledException.
    /// </summary>
    Task<LlmResult> CompleteAsync(LlmRequest request, CancellationToken cancellationToken);
}
