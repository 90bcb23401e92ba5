using Microsoft.Extensions.Configuration;

namespace MemorySql.Embeddings.Llm;

/// <summary>The configuration section <c>Llm</c>: which chat model (if any) MemorySql may call, and its settings.</summary>
public sealed class LlmOptions
{
    public const string SectionName = "Llm";

    /// <summary>"none" (default: every LLM feature uses its offline path) or "openai" (any OpenAI-compatible chat endpoint).</summary>
    public string Provider { get; set; } = LlmProviderFactory.NoProvider;

    public OpenAiLlmOptions OpenAI { get; set; } = new();

    /// <summary>Binds the <c>Llm</c> section of <paramref name="configuration"/> (keys are case-insensitive).</summary>
    public static LlmOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new LlmOptions();
        configuration.GetSection(SectionName).Bind(options);
        return options;
    }
}
