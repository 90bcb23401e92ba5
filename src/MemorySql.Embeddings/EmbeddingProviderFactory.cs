using System.Globalization;
using MemorySql.Embeddings.Builtin;
using MemorySql.Embeddings.OpenAI;
using Microsoft.Extensions.Logging;

namespace MemorySql.Embeddings;

/// <summary>Creates the configured <see cref="IEmbeddingProvider"/>, or explains exactly which setting is wrong.</summary>
public static class EmbeddingProviderFactory
{
    public const string BuiltinProvider = "builtin";
    public const string OpenAiProvider = "openai";

    /// <summary>Every problem with <paramref name="options"/>, each naming its configuration key; empty when usable.</summary>
    public static IReadOnlyList<string> Validate(EmbeddingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (IsProvider(options, BuiltinProvider))
        {
            if (BuiltinModels.Find(options.Builtin.Model) is null)
                errors.Add($"Embeddings:Builtin:Model '{options.Builtin.Model}' is not a builtin model; use {BuiltinModels.Latest.Name}");
            if (options.Builtin.Dimension is < BuiltinEmbeddingProvider.MinDimension or > BuiltinEmbeddingProvider.MaxDimension)
                errors.Add(string.Create(CultureInfo.InvariantCulture,
                    $"Embeddings:Builtin:Dimension must be between {BuiltinEmbeddingProvider.MinDimension} and {BuiltinEmbeddingProvider.MaxDimension} (got {options.Builtin.Dimension})"));
        }
        else if (IsProvider(options, OpenAiProvider))
        {
            errors.AddRange(OpenAiOptionsValidator.Validate(options.OpenAI, "Embeddings:OpenAI"));
        }
        else
        {
            errors.Add($"Embeddings:Provider '{options.Provider}' is unknown; use '{BuiltinProvider}' or '{OpenAiProvider}'");
        }
        return errors;
    }

    /// <summary>
    /// The provider <paramref name="options"/> describe. Throws <see cref="InvalidOperationException"/>
    /// listing every invalid setting. The caller owns the result: dispose it if it is <see cref="IDisposable"/>.
    /// </summary>
    /// <param name="httpHandler">For the openai provider: the HTTP handler to send through (tests, outbound proxies); not disposed by the provider.</param>
    public static IEmbeddingProvider Create(EmbeddingOptions options, ILoggerFactory? loggerFactory = null, HttpMessageHandler? httpHandler = null)
    {
        var errors = Validate(options);
        if (errors.Count > 0)
            throw new InvalidOperationException("invalid embedding configuration: " + string.Join("; ", errors));
        if (IsProvider(options, BuiltinProvider))
            return new BuiltinEmbeddingProvider(BuiltinModels.Find(options.Builtin.Model)!, options.Builtin.Dimension);
        return new OpenAiEmbeddingProvider(options.OpenAI, loggerFactory?.CreateLogger<OpenAiEmbeddingProvider>(), httpHandler);
    }

    private static bool IsProvider(EmbeddingOptions options, string name) =>
        string.Equals(options.Provider?.Trim(), name, StringComparison.OrdinalIgnoreCase);
}
