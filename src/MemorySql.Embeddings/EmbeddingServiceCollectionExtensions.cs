using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MemorySql.Embeddings;

/// <summary>Registers the configured embedding provider with dependency injection.</summary>
public static class EmbeddingServiceCollectionExtensions
{
    /// <summary>
    /// Binds <c>Embeddings</c> from <paramref name="configuration"/> to <see cref="EmbeddingOptions"/> and
    /// registers one shared <see cref="IEmbeddingProvider"/> (created on first use; an invalid
    /// configuration throws then, naming the keys to fix). The container disposes it.
    /// </summary>
    public static IServiceCollection AddMemorySqlEmbeddings(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<EmbeddingOptions>().Bind(configuration.GetSection(EmbeddingOptions.SectionName));
        services.TryAddSingleton<IEmbeddingProvider>(sp => EmbeddingProviderFactory.Create(
            sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        return services;
    }
}
