using System.Globalization;
using MemorySql.Embeddings.OpenAI;
using Microsoft.Extensions.Logging;

namespace MemorySql.Embeddings.Llm;

/// <summary>Creates the configured <see cref="ILlmProvider"/> (or none), or explains exactly which setting is wrong.</summary>
public static class LlmProviderFactory
{
    public const string NoProvider = "none";
    public const string OpenAiProvider = "openai";

    /// <summary>Every problem with <paramref name="options"/>, each naming its configuration key; empty when usable.</summary>
    public static IReadOnlyList<string> Validate(LlmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (IsProvider(options, NoProvider)) return errors;
        if (!IsProvider(options, OpenAiProvider))
        {
            errors.Add($"Llm:Provider '{options.Provider}' is unknown; use '{NoProvider}' or '{OpenAiProvider}'");
            return errors;
        }
        var o = options.OpenAI;
        const string Section = "Llm:OpenAI";
        if (OpenAiOptionsValidator.ValidateBaseUrl(o.BaseUrl, Section) is { } badUrl) errors.Add(badUrl);
        if (string.IsNullOrWhiteSpace(o.Model))
            errors.Add($"{Section}:Model is required, e.g. gpt-4o-mini (OpenAI) or qwen2.5:7b-instruct (Ollama)");
        else if (o.Model.Length > 200)
            errors.Add($"{Section}:Model is longer than 200 characters");
        if (o.MaxTokens is < 16 or > 1_000_000)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:MaxTokens must be between 16 and 1000000 (got {o.MaxTokens})"));
        if (!Enum.IsDefined(o.StructuredOutput))
            errors.Add($"{Section}:StructuredOutput must be Auto, JsonSchema, JsonObject or Prompt");
        errors.AddRange(OpenAiOptionsValidator.ValidateConnection(o.TimeoutSeconds, o.MaxRetries, o.MaxConcurrency, o.RetryBaseDelaySeconds,
            o.RetryMaxDelaySeconds, o.ApiKeyHeader, Section));
        return errors;
    }

    /// <summary>True when <paramref name="options"/> configure a model (Provider is not "none").</summary>
    public static bool IsConfigured(LlmOptions options) => options is not null && !IsProvider(options, NoProvider);

    /// <summary>
    /// The provider <paramref name="options"/> describe, or null for "none". Throws <see cref="InvalidOperationException"/>
    /// listing every invalid setting. The caller owns the result: dispose it if it is <see cref="IDisposable"/>.
    /// </summary>
    /// <param name="httpHandler">The HTTP handler to send through (tests, outbound proxies); not disposed by the provider.</param>
    public static ILlmProvider? Create(LlmOptions options, ILoggerFactory? loggerFactory = null, HttpMessageHandler? httpHandler = null)
    {
        var errors = Validate(options);
        if (errors.Count > 0)
            throw new InvalidOperationException("invalid LLM configuration: " + string.Join("; ", errors));
        if (IsProvider(options, NoProvider)) return null;
        return new OpenAiLlmProvider(options.OpenAI, loggerFactory?.CreateLogger<OpenAiLlmProvider>(), httpHandler);
    }

    private static bool IsProvider(LlmOptions options, string name) =>
        string.Equals(options.Provider?.Trim(), name, StringComparison.OrdinalIgnoreCase);
}
