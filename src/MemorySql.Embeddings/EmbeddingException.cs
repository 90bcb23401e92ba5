namespace MemorySql.Embeddings;

/// <summary>An embedding provider could not produce vectors. The message names the provider and the cause.</summary>
public sealed class EmbeddingException : Exception
{
    /// <summary>
    /// SQLSTATE the proxy reports to clients for a failing provider: 38000 external_routine_exception.
    /// Not class 58 (as DESIGN first proposed): Npgsql closes its connection after any class-58 error,
    /// and a provider outage must leave the client's connection usable.
    /// </summary>
    public const string SqlState = "38000";

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
