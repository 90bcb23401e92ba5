using Microsoft.Extensions.Configuration;

namespace MemorySql.Embeddings;

/// <summary>The configuration section <c>Embeddings</c>: which provider embeds texts, and its settings.</summary>
public sealed class EmbeddingOptions
{
    public const string SectionName = "Embeddings";

    /// <summary>"builtin" (default: offline, deterministic) or "openai" (any OpenAI-compatible endpoint).</summary>
    public string Provider { get; set; } = EmbeddingProviderFactory.BuiltinProvider;

    public BuiltinEmbeddingOptions Builtin { get; set; } = new();

    public OpenAiEmbeddingOptions OpenAI { get; set; } = new();

    /// <summary>Binds the <c>Embeddings</c> section of <paramref name="configuration"/> (keys are case-insensitive).</summary>
    public static EmbeddingOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new EmbeddingOptions();
        configuration.GetSection(SectionName).Bind(options);
        return options;
    }
}

/// <summary>Settings of the builtin provider (<c>Embeddings:Builtin</c>).</summary>
public sealed class BuiltinEmbeddingOptions
{
    /// <summary>The builtin model version; pin it to keep today's vectors when a newer builtin model ships.</summary>
    public string Model { get; set; } = BuiltinEmbeddingProvider.DefaultModel;

    /// <summary>Vector length, 32–2000; anything but 384 becomes part of the model name ("builtin-v1-d256").</summary>
    public int Dimension { get; set; } = BuiltinEmbeddingProvider.DefaultDimension;
}
