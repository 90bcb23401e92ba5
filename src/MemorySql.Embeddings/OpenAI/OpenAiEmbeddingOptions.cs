namespace MemorySql.Embeddings;

/// <summary>
/// Settings of the OpenAI-compatible provider (configuration section <c>Embeddings:OpenAI</c>). Works with
/// OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio and text-embeddings-inference: anything serving
/// <c>POST {BaseUrl}/embeddings</c> with OpenAI's request and response shape.
/// </summary>
public sealed class OpenAiEmbeddingOptions
{
    /// <summary>The API root, e.g. "https://api.openai.com/v1" or "http://localhost:11434/v1"; "/embeddings" is appended (a query string such as Azure's "?api-version=…" is kept).</summary>
    public string BaseUrl { get; set; } = "https://api.openai.com/v1";

    /// <summary>The model (or Azure deployment) sent in each request, e.g. "text-embedding-3-small".</summary>
    public string Model { get; set; } = "";

    /// <summary>The API key; sent as "Authorization: Bearer …", or in the "api-key" header for Azure. Empty for local servers that need none.</summary>
    public string? ApiKey { get; set; }

    /// <summary>"Authorization" (Bearer, the default) or "api-key" (Azure OpenAI; the default for *.openai.azure.com hosts).</summary>
    public string? ApiKeyHeader { get; set; }

    /// <summary>
    /// The vector length. Sent as the request's "dimensions" field (text-embedding-3 models shorten their
    /// vectors on request) unless <see cref="SendDimensions"/> is false, and checked on every response.
    /// Optional for models whose length MemorySql knows; required otherwise.
    /// </summary>
    public int? Dimensions { get; set; }

    /// <summary>False for servers that reject the "dimensions" field; <see cref="Dimensions"/> is then only checked.</summary>
    public bool SendDimensions { get; set; } = true;

    /// <summary>The model name stored with each embedding; defaults to <see cref="Model"/>. Give a new name when the vectors change (other dimensions, another server's variant of the model).</summary>
    public string? ModelName { get; set; }

    /// <summary>Texts per request; bigger batches are split and sent concurrently, and their results kept in order.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Time allowed for one request (sending it and reading the whole response); a timeout is retried.</summary>
    public double TimeoutSeconds { get; set; } = 30;

    /// <summary>Retries after the first attempt for transient failures: timeouts, connection errors, 408, 429 and 5xx.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>Requests in flight at once, across all callers of this provider.</summary>
    public int MaxConcurrency { get; set; } = 4;

    /// <summary>First retry delay; it doubles per attempt, with jitter, up to <see cref="RetryMaxDelaySeconds"/>.</summary>
    public double RetryBaseDelaySeconds { get; set; } = 0.5;

    /// <summary>The longest wait before a retry; a 429 asking for a longer Retry-After fails at once (transiently) instead of blocking.</summary>
    public double RetryMaxDelaySeconds { get; set; } = 30;
}
