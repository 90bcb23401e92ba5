namespace MemorySql.Embeddings;

/// <summary>An embedding provider could not produce vectors. The message names the provider and the cause.</summary>
public sealed class EmbeddingException : Exception
{
    /// <summary>SQLSTATE the proxy reports to clients for a failing provider (class 58: system error).</summary>
    public const string SqlState = "58000";

    public EmbeddingException() { }
    public EmbeddingException(string message) : base(message) { }
    public EmbeddingException(string message, Exception inner) : base(message, inner) { }

    public EmbeddingException(string model, string message, bool isTransient, Exception? inner = null)
        : base(message, inner)
    {
        Model = model;
        IsTransient = isTransient;
    }

    /// <summary>The model whose provider failed.</summary>
    public string? Model { get; }

    /// <summary>True when trying again later may succeed (timeouts, 429, 5xx); false for bad requests or bad keys.</summary>
    public bool IsTransient { get; }
}
