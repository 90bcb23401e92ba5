using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Workers.Access;
using MemorySql.Workers.Check;
using MemorySql.Workers.Common;
using MemorySql.Workers.Decay;
using MemorySql.Workers.Embed;
using MemorySql.Workers.Extraction;
using MemorySql.Workers.Health;
using MemorySql.Workers.Llm;
using MemorySql.Workers.Reflection;
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
    /// Registers the workers enabled in <paramref name="configuration"/> as hosted services — embed
    /// (<c>Workers:Embed</c>), decay (<c>Workers:Decay</c>), access statistics (<c>Workers:Access</c>), dedup/contradiction check (<c>Workers:Check</c>),
    /// extraction (<c>Workers:Extraction</c>) and reflection (<c>Workers:Reflection</c>) — plus a
    /// <see cref="WorkerHealthRegistry"/> to read their health, the writer that puts it into memory.worker_health
    /// (<c>Workers:Health</c>), and the <see cref="ILlmUsageSink"/> that writes memory.llm_usage. Needs an
    /// <see cref="IEmbeddingProvider"/> (see <c>AddMemorySqlEmbeddings</c>) and uses an <see cref="ILlmProvider"/>
    /// when one is registered (<c>AddMemorySqlLlm</c>). The workers connect through <paramref name="adminDataSource"/>,
    /// which must log in as the owner of the memory schema; the container disposes it.
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
        services.AddOptions<WorkerHealthOptions>().Bind(configuration.GetSection(WorkerHealthOptions.SectionName));

        // First, so that it stops last (hosted services stop in reverse order) and its final write shows the workers stopped.
        var health = new WorkerHealthOptions();
        configuration.GetSection(WorkerHealthOptions.SectionName).Bind(health);
        if (health.Enabled)
        {
            services.TryAddSingleton(sp => new WorkerHealthWriter(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<WorkerHealthRegistry>(),
                sp.GetRequiredService<IOptions<WorkerHealthOptions>>().Value,
                sp.GetRequiredService<ILogger<WorkerHealthWriter>>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<WorkerHealthWriter>());
        }

        // LLM usage (memory.llm_usage) is written by one writer for the whole process: workers and the proxy's
        // reflect path (ILlmUsageSink). Registered early, so it stops after the workers and flushes what they spent.
        services.TryAddSingleton(sp => new LlmUsageWriter(sp.GetRequiredService<WorkerDataSource>().DataSource, sp.GetRequiredService<ILogger<LlmUsageWriter>>()));
        services.TryAddSingleton<ILlmUsageSink>(sp => sp.GetRequiredService<LlmUsageWriter>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<LlmUsageWriter>());

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

        services.AddOptions<AccessWorkerOptions>().Bind(configuration.GetSection(AccessWorkerOptions.SectionName));
        var access = new AccessWorkerOptions();
        configuration.GetSection(AccessWorkerOptions.SectionName).Bind(access);
        if (access.Enabled)
        {
            services.TryAddSingleton(sp => new AccessWorker(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<IOptions<AccessWorkerOptions>>().Value,
                sp.GetRequiredService<ILogger<AccessWorker>>(),
                sp.GetRequiredService<WorkerHealthRegistry>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<AccessWorker>());
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
                sp.GetService<ILlmProvider>(),
                sp.GetRequiredService<LlmUsageWriter>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<CheckWorker>());
        }

        services.AddOptions<ExtractionWorkerOptions>().Bind(configuration.GetSection(ExtractionWorkerOptions.SectionName));
        var extraction = new ExtractionWorkerOptions();
        configuration.GetSection(ExtractionWorkerOptions.SectionName).Bind(extraction);
        if (extraction.Enabled)
        {
            services.TryAddSingleton(sp => new ExtractionWorker(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<IOptions<ExtractionWorkerOptions>>().Value,
                sp.GetService<ILlmProvider>(),
                sp.GetRequiredService<LlmUsageWriter>(),
                sp.GetRequiredService<ILogger<ExtractionWorker>>(),
                sp.GetRequiredService<WorkerHealthRegistry>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ExtractionWorker>());
        }

        services.AddOptions<ReflectionWorkerOptions>().Bind(configuration.GetSection(ReflectionWorkerOptions.SectionName));
        var reflection = new ReflectionWorkerOptions();
        configuration.GetSection(ReflectionWorkerOptions.SectionName).Bind(reflection);
        if (reflection.Enabled)
        {
            services.TryAddSingleton(sp => new ReflectionWorker(
                sp.GetRequiredService<WorkerDataSource>().DataSource,
                sp.GetRequiredService<IOptions<ReflectionWorkerOptions>>().Value,
                sp.GetService<ILlmProvider>(),
                sp.GetRequiredService<LlmUsageWriter>(),
                sp.GetRequiredService<ILogger<ReflectionWorker>>(),
                sp.GetRequiredService<WorkerHealthRegistry>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ReflectionWorker>());
        }
        return services;
    }
}
