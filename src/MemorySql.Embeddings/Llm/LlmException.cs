namespace MemorySql.Embeddings.Llm;

/// <summary>The chat model could not give a valid answer. The message names the endpoint and the cause.</summary>
public sealed class LlmException : Exception
{
    public LlmException() { }
    public LlmException(string message) : base(message) { }
    public LlmException(string message, Exception inner) : base(message, inner) { }

    public LlmException(string message, bool isTransient, LlmUsage usage = default, Exception? inner = null) : base(message, inner)
    {
        IsTransient = isTransient;
        Usage = usage;
    }

    /// <summary>True when trying later may succeed (timeouts, 429, 5xx).</summary>
    public bool IsTransient { get; }

    /// <summary>Tokens spent before the failure (e.g. an answer that never validated), so callers can account for them.</summary>
    public LlmUsage Usage { get; }
}
