namespace MemorySql.Embeddings.Llm;

/// <summary>How the answer is made to be JSON when a request has a schema.</summary>
public enum StructuredOutputMode
{
    /// <summary>Try json_schema, and step down to json_object, then to instructions alone, when the server rejects the field.</summary>
    Auto,
    /// <summary>response_format {type: json_schema} (OpenAI, Azure, vLLM, Ollama ≥ 0.5, LM Studio).</summary>
    JsonSchema,
    /// <summary>response_format {type: json_object} (JSON mode: valid JSON, the schema only in the instructions).</summary>
    JsonObject,
    /// <summary>No response_format: the schema is only in the instructions (servers that reject the field).</summary>
    Prompt,
}

/// <summary>
/// Settings of the OpenAI-compatible chat provider (configuration section <c>Llm:OpenAI</c>). Works with OpenAI,
/// Azure OpenAI, Ollama, vLLM, LM Studio and anything else serving <c>POST {BaseUrl}/chat/completions</c> with
/// OpenAI's request and response shape.
/// </summary>
public sealed class OpenAiLlmOptions
{
    /// <summary>The API root, e.g. "https://api.openai.com/v1" or "http://localhost:11434/v1"; "/chat/completions" is appended (a query string such as Azure's "?api-version=…" is kept).</summary>
    public string BaseUrl { get; set; } = "https://api.openai.com/v1";

    /// <summary>The model (or Azure deployment) sent with each request, e.g. "gpt-4o-mini" or "qwen2.5:7b-instruct".</summary>
    public string Model { get; set; } = "";

    /// <summary>The API key; sent as "Authorization: Bearer …", or in the "api-key" header for Azure. Empty for local servers that need none.</summary>
    public string? ApiKey { get; set; }

    /// <summary>"Authorization" (Bearer, the default) or "api-key" (Azure OpenAI; the default for *.openai.azure.com hosts).</summary>
    public string? ApiKeyHeader { get; set; }

    /// <summary>Time allowed for one request (sending it and reading the whole answer); a timeout is retried.</summary>
    public double TimeoutSeconds { get; set; } = 60;

    /// <summary>Retries after the first attempt for transient failures: timeouts, connection errors, 408, 429 and 5xx.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>Requests in flight at once, across everything in this process that calls the model.</summary>
    public int MaxConcurrency { get; set; } = 4;

    /// <summary>First retry delay; it doubles per attempt, with jitter, up to <see cref="RetryMaxDelaySeconds"/>.</summary>
    public double RetryBaseDelaySeconds { get; set; } = 1;

    /// <summary>The longest wait before a retry; a 429 asking for a longer Retry-After fails at once (transiently).</summary>
    public double RetryMaxDelaySeconds { get; set; } = 30;

    /// <summary>How answers are made to be JSON when MemorySql needs structured output.</summary>
    public StructuredOutputMode StructuredOutput { get; set; } = StructuredOutputMode.Auto;

    /// <summary>Upper bound on an answer's tokens when the caller sets none.</summary>
    public int MaxTokens { get; set; } = 1024;
}
