using System.Globalization;
using System.Text;
using System.Text.Json;
using MemorySql.Embeddings.OpenAI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemorySql.Embeddings.Llm;

/// <summary>
/// A chat model behind any OpenAI-compatible <c>/chat/completions</c> endpoint (OpenAI, Azure OpenAI, Ollama,
/// vLLM, LM Studio). HTTP discipline (bounded concurrency, per-attempt timeout, retries with backoff and jitter,
/// Retry-After) is the shared <see cref="OpenAiTransport"/>'s. With a schema the answer is structured: the
/// schema goes into the instructions and, where the server takes it, into <c>response_format</c> (json_schema,
/// else json_object — the provider steps down by itself when a server rejects the field, and remembers);
/// the JSON is found even inside prose or ```json fences, validated against the schema, and, when invalid,
/// sent back once with the errors to be corrected. Tokens are summed over every attempt that reported usage.
/// </summary>
public sealed class OpenAiLlmProvider : ILlmProvider, IDisposable
{
    private const string Section = "Llm:OpenAI";

    private readonly OpenAiLlmOptions _options;
    private readonly OpenAiTransport _transport;
    private readonly ILogger _logger;
    // What this server has been seen to reject; each flag only ever turns on.
    private volatile int _structured;
    private volatile bool _useMaxCompletionTokens;
    private volatile bool _omitTemperature;

    /// <param name="options">Validated settings (see <see cref="LlmProviderFactory"/>).</param>
    /// <param name="logger">Logs retries, repairs and step-downs.</param>
    /// <param name="handler">The HTTP handler to send through (tests, proxies); pooled connections when null. Not disposed.</param>
    public OpenAiLlmProvider(OpenAiLlmOptions options, ILogger<OpenAiLlmProvider>? logger = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = LlmProviderFactory.Validate(new LlmOptions { Provider = LlmProviderFactory.OpenAiProvider, OpenAI = options });
        if (errors.Count > 0) throw new ArgumentException(string.Join(Environment.NewLine, errors), nameof(options));
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _structured = (int)(options.StructuredOutput == StructuredOutputMode.Auto ? StructuredOutputMode.JsonSchema : options.StructuredOutput);
        var endpoint = OpenAiOptionsValidator.Endpoint(options.BaseUrl, "/chat/completions");
        _transport = new OpenAiTransport(
            new OpenAiTransportSettings(endpoint, "LLM", options.Model, Section, options.ApiKey,
                OpenAiOptionsValidator.UsesApiKeyHeader(options.ApiKeyHeader, endpoint), TimeSpan.FromSeconds(options.TimeoutSeconds),
                options.MaxRetries, options.MaxConcurrency, options.RetryBaseDelaySeconds, options.RetryMaxDelaySeconds),
            logger, handler);
    }

    public string Model => _options.Model;

    /// <summary>The structured-output mode in use now (it steps down in Auto mode when the server rejects one).</summary>
    public StructuredOutputMode CurrentStructuredOutput => (StructuredOutputMode)_structured;

    public async Task<LlmResult> CompleteAsync(LlmRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Messages is null || request.Messages.Count == 0) throw new ArgumentException("a request needs at least one message", nameof(request));
        var messages = new List<LlmMessage>(request.Messages);
        if (request.JsonSchema is { } schema) messages = WithSchemaInstructions(messages, schema);

        var usage = default(LlmUsage);
        for (var round = 0; ; round++)
        {
            var answer = await SendAsync(request, messages, usage, cancellationToken);
            usage = answer.Usage;
            if (request.JsonSchema is not { } jsonSchema)
            {
                var text = JsonExtractor.StripReasoning(answer.Content);
                if (text.Length == 0)
                    throw new LlmException($"LLM {_transport.Describe} returned an empty answer{Cut(answer)}", isTransient: false, usage);
                return new LlmResult(text, null, usage, Model);
            }

            var problems = Check(answer, jsonSchema, out var json);
            if (problems.Count == 0) return new LlmResult(answer.Content, json, usage, Model);
            if (round >= 1)
                throw new LlmException(
                    $"LLM {_transport.Describe} did not return valid JSON for {request.Purpose}, even after being shown its errors: {string.Join("; ", problems)}{Cut(answer)}",
                    isTransient: false, usage);

            _logger.LogInformation("LLM answer for {Purpose} did not match its schema ({Problems}); asking {Model} to correct it",
                request.Purpose, string.Join("; ", problems), Model);
            messages.Add(new LlmMessage("assistant", answer.Content.Length > 20_000 ? answer.Content[..20_000] : answer.Content));
            messages.Add(LlmMessage.User(
                "Your answer cannot be used: " + string.Join("; ", problems) +
                ". Reply again with only the corrected JSON value, matching the JSON Schema given, with no other text."));
        }
    }

    private static List<string> Check(Answer answer, JsonElement schema, out JsonElement? json)
    {
        json = null;
        if (answer.Refusal is { Length: > 0 } refusal) return ["the model refused: " + refusal];
        var found = JsonExtractor.Extract(answer.Content, out var problem);
        if (found is null) return [problem! + (answer.FinishReason == "length" ? " (the answer was cut off at the token limit)" : "")];
        var errors = JsonSchemaValidator.Validate(found.Value, schema);
        if (errors.Count > 0) return [.. errors];
        json = found;
        return [];
    }

    private static string Cut(Answer answer) => answer.FinishReason == "length"
        ? string.Create(CultureInfo.InvariantCulture, $" (the answer was cut off at the token limit; raise {Section}:MaxTokens)")
        : "";

    /// <summary>The instructions that make any model answer in JSON: appended to the system message (or one is added).</summary>
    private static List<LlmMessage> WithSchemaInstructions(List<LlmMessage> messages, JsonElement schema)
    {
        var instruction = "Answer with a single JSON value that matches this JSON Schema, and nothing else (no prose, no code fence):\n" + schema.GetRawText();
        var result = new List<LlmMessage>(messages.Count + 1);
        var index = messages.FindIndex(m => m.Role == "system");
        if (index < 0) result.Add(LlmMessage.System(instruction));
        for (var i = 0; i < messages.Count; i++)
            result.Add(i == index ? LlmMessage.System(messages[i].Content + "\n\n" + instruction) : messages[i]);
        return result;
    }

    /// <summary>One completion, stepping down unsupported request fields as the server asks; usage added to <paramref name="usage"/>.</summary>
    private async Task<Answer> SendAsync(LlmRequest request, List<LlmMessage> messages, LlmUsage usage, CancellationToken cancellationToken)
    {
        for (var stepDowns = 0; ; stepDowns++)
        {
            var body = Body(request, messages);
            var response = await _transport.PostAsync(body, keepError: (status, _) => status == 400,
                (message, transient, inner) => new LlmException(message, transient, usage, inner), cancellationToken);
            if (response.Status == 400)
            {
                var message = OpenAiTransport.ErrorMessage(response.Body);
                if (stepDowns < 4 && StepDown(message, request.JsonSchema is not null)) continue;
                throw new LlmException($"LLM {_transport.Describe} rejected the request: HTTP 400: {message}{_transport.Hint(400)}", isTransient: false, usage);
            }
            return Parse(response.Body, usage);
        }
    }

    /// <summary>Turns off what a 400 says the server does not take; false when the error is about something else.</summary>
    private bool StepDown(string error, bool structured)
    {
        var lower = error.ToLowerInvariant();
        if (structured && (lower.Contains("response_format", StringComparison.Ordinal) || lower.Contains("json_schema", StringComparison.Ordinal)
                           || lower.Contains("json_object", StringComparison.Ordinal) || lower.Contains("structured output", StringComparison.Ordinal)))
        {
            var current = (StructuredOutputMode)_structured;
            if (_options.StructuredOutput != StructuredOutputMode.Auto || current == StructuredOutputMode.Prompt) return false;
            var next = current == StructuredOutputMode.JsonSchema ? StructuredOutputMode.JsonObject : StructuredOutputMode.Prompt;
            _logger.LogWarning("LLM {Model} rejected response_format {Current} ({Error}); using {Next} from now on (Llm:OpenAI:StructuredOutput)",
                Model, current, error, next);
            _structured = (int)next;
            return true;
        }
        if (!_useMaxCompletionTokens && lower.Contains("max_tokens", StringComparison.Ordinal))
        {
            _logger.LogInformation("LLM {Model} wants max_completion_tokens instead of max_tokens; switching", Model);
            _useMaxCompletionTokens = true;
            return true;
        }
        if (!_omitTemperature && lower.Contains("temperature", StringComparison.Ordinal))
        {
            _logger.LogInformation("LLM {Model} does not take a temperature; leaving it out", Model);
            _omitTemperature = true;
            return true;
        }
        return false;
    }

    private byte[] Body(LlmRequest request, List<LlmMessage> messages)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", _options.Model);
            w.WriteStartArray("messages");
            foreach (var m in messages)
            {
                w.WriteStartObject();
                w.WriteString("role", m.Role);
                w.WriteString("content", m.Content);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (request.Temperature is { } temperature && !_omitTemperature) w.WriteNumber("temperature", temperature);
            w.WriteNumber(_useMaxCompletionTokens ? "max_completion_tokens" : "max_tokens", request.MaxTokens ?? _options.MaxTokens);
            w.WriteBoolean("stream", false);
            if (request.JsonSchema is { } schema)
            {
                switch ((StructuredOutputMode)_structured)
                {
                    case StructuredOutputMode.JsonSchema:
                        w.WriteStartObject("response_format");
                        w.WriteString("type", "json_schema");
                        w.WriteStartObject("json_schema");
                        w.WriteString("name", SchemaName(request.Purpose));
                        w.WritePropertyName("schema");
                        schema.WriteTo(w);
                        w.WriteBoolean("strict", IsStrictCompatible(schema));
                        w.WriteEndObject();
                        w.WriteEndObject();
                        break;
                    case StructuredOutputMode.JsonObject:
                        w.WriteStartObject("response_format");
                        w.WriteString("type", "json_object");
                        w.WriteEndObject();
                        break;
                }
            }
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private Answer Parse(byte[] body, LlmUsage usage)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
                usage = new LlmUsage(usage.PromptTokens + Int(u, "prompt_tokens"), usage.CompletionTokens + Int(u, "completion_tokens"));
            if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
                throw Unusable($"the response has no \"choices\": {OpenAiTransport.Excerpt(body)}", usage);
            var choice = choices[0];
            if (!choice.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
                throw Unusable($"the first choice has no \"message\": {OpenAiTransport.Excerpt(body)}", usage);
            var content = message.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
            var refusal = message.TryGetProperty("refusal", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
            var finish = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
            return new Answer(content, refusal, finish, usage);
        }
        catch (JsonException e)
        {
            throw Unusable($"the response is not valid JSON ({e.Message}): {OpenAiTransport.Excerpt(body)}", usage, e);
        }
    }

    private LlmException Unusable(string problem, LlmUsage usage, Exception? inner = null) =>
        new($"LLM {_transport.Describe} returned an unusable response: {problem}", isTransient: false, usage, inner);

    private static int Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i > 0 ? i : 0;

    /// <summary>OpenAI's schema names: letters, digits, _ and -, at most 64.</summary>
    private static string SchemaName(string purpose)
    {
        var sb = new StringBuilder("memorysql_");
        foreach (var ch in purpose ?? "")
            if (sb.Length < 64 && (char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-')) sb.Append(ch);
        return sb.ToString();
    }

    /// <summary>
    /// OpenAI's strict mode accepts only closed objects whose every property is required, and a limited
    /// keyword set; other schemas are sent with strict false (best effort) and validated here either way.
    /// </summary>
    internal static bool IsStrictCompatible(JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object) return false;
        foreach (var keyword in schema.EnumerateObject())
        {
            switch (keyword.Name)
            {
                case "type" or "enum" or "description" or "required":
                    break;
                case "properties":
                    foreach (var p in keyword.Value.EnumerateObject())
                        if (!IsStrictCompatible(p.Value)) return false;
                    break;
                case "items":
                    if (!IsStrictCompatible(keyword.Value)) return false;
                    break;
                case "additionalProperties":
                    if (keyword.Value.ValueKind != JsonValueKind.False) return false;
                    break;
                default:
                    return false;
            }
        }
        if (!schema.TryGetProperty("properties", out var properties)) return true;
        if (!schema.TryGetProperty("additionalProperties", out var additional) || additional.ValueKind != JsonValueKind.False) return false;
        var required = schema.TryGetProperty("required", out var req) && req.ValueKind == JsonValueKind.Array
            ? req.EnumerateArray().Select(x => x.GetString()).ToHashSet(StringComparer.Ordinal)
            : [];
        return properties.EnumerateObject().All(p => required.Contains(p.Name));
    }

    public void Dispose() => _transport.Dispose();

    private sealed record Answer(string Content, string? Refusal, string? FinishReason, LlmUsage Usage);
}
