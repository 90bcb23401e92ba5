using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Check;
using MemorySql.Workers.Common;
using MemorySql.Workers.Decay;
using MemorySql.Workers.Embed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MemorySql.Workers;

/// <summary>Registers MemorySql's background workers with a host.</summary>
public static class WorkerServiceCollectionExtensions
{
    /// <summary>
    /// Registers the workers enabled in <paramref name="configuration"/> as hosted services — the embed worker
    /// (<c>Workers:Embed</c>), the decay worker (<c>Workers:Decay</c>) and the dedup/contradiction check worker
    /// (<c>Workers:Check</c>) — plus a <see cref="WorkerHealthRegistry"/> to read their health. Needs an
    /// <see cref="IEmbeddingProvider"/> (see <c>AddMemorySqlEmbeddings</c>); an <see cref="ILlmProvider"/>, when
    /// registered, judges contradictions. The workers connect through <paramref name="adminDataSource"/>, which
    /// must log in as the owner of the memory schema; the container disposes it.
    /// </summary>
    public static IServiceCollection AddMemorySqlWorkers(this IServiceCollection services, IConfiguration configuration,
        Func<IServiceProvider, NpgsqlDataSource> adminDataSource)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(adminDataSource);
        services.TryAddSingleton<WorkerHealthRegistry>();
        services.TryAddSingleton(sp => new WorkerDataSource(adminDataSource(sp)));
        services.AddOptions<EmbedWorkerOptions>().Bind(configuration.GetSection(EmbedWorkerOptions.SectionName));

        var embed = new EmbedWorkerOptions();
        configuration.GetSection(EmbedWorkerOptions.SectionName).Bind(embed);
        if (embed.Enabled)
        {
            services.TryAddSingleton(sp => new EmbedWorker(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<IEmbeddingProvider>(),
                sp.GetRequiredService<IOptions<EmbedWorkerOptions>>().Value,
                sp.GetRequiredService<ILogger<EmbedWorker>>(),
                sp.GetRequiredService<WorkerHealthRegistry>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<EmbedWorker>());
        }

        services.AddOptions<DecayWorkerOptions>().Bind(configuration.GetSection(DecayWorkerOptions.SectionName));
        var decay = new DecayWorkerOptions();
        configuration.GetSection(DecayWorkerOptions.SectionName).Bind(decay);
        if (decay.Enabled)
        {
            services.TryAddSingleton(sp => new DecayWorker(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<IOptions<DecayWorkerOptions>>().Value,
                sp.GetRequiredService<ILogger<DecayWorker>>(),
                sp.GetRequiredService<WorkerHealthRegistry>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DecayWorker>());
        }

        services.AddOptions<CheckWorkerOptions>().Bind(configuration.GetSection(CheckWorkerOptions.SectionName));
        var check = new CheckWorkerOptions();
        configuration.GetSection(CheckWorkerOptions.SectionName).Bind(check);
        if (check.Enabled)
        {
            services.TryAddSingleton(sp => new CheckWorker(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<IOptions<CheckWorkerOptions>>().Value,
                sp.GetRequiredService<ILogger<CheckWorker>>(),
                sp.GetRequiredService<WorkerHealthRegistry>(),
                sp.GetService<ILlmProvider>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<CheckWorker>());
        }
        return services;
    }
}
