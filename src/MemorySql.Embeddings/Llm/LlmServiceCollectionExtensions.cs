using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace MemorySql.Embeddings.Llm;

/// <summary>Registers the configured chat model with dependency injection.</summary>
public static class LlmServiceCollectionExtensions
{
    /// <summary>
    /// Binds <c>Llm</c> from <paramref name="configuration"/> and, when <c>Llm:Provider</c> names a model,
    /// registers one shared <see cref="ILlmProvider"/> (the container disposes it). An invalid configuration
    /// throws here, naming the keys to fix. With the default "none" nothing is registered, and every feature
    /// that would call an LLM takes its offline path (and says so).
    /// </summary>
    public static IServiceCollection AddMemorySqlLlm(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var options = LlmOptions.FromConfiguration(configuration);
        var errors = LlmProviderFactory.Validate(options);
        if (errors.Count > 0) throw new InvalidOperationException("invalid LLM configuration: " + string.Join("; ", errors));
        services.TryAddSingleton(options);
        if (LlmProviderFactory.IsConfigured(options))
            services.TryAddSingleton<ILlmProvider>(sp => LlmProviderFactory.Create(options, sp.GetService<ILoggerFactory>())!);
        return services;
    }
}
