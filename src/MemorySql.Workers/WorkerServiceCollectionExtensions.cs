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

        // In this order: hosted services start in it and stop in reverse.
        AddWorker<EmbedWorkerOptions, EmbedWorker>(services, configuration, EmbedWorkerOptions.SectionName, o => o.Enabled,
            (sp, db, o) => new EmbedWorker(db, sp.GetRequiredService<IEmbeddingProvider>(), o, Logger<EmbedWorker>(sp), Health(sp)));
        AddWorker<DecayWorkerOptions, DecayWorker>(services, configuration, DecayWorkerOptions.SectionName, o => o.Enabled,
            (sp, db, o) => new DecayWorker(db, o, Logger<DecayWorker>(sp), Health(sp)));
        AddWorker<AccessWorkerOptions, AccessWorker>(services, configuration, AccessWorkerOptions.SectionName, o => o.Enabled,
            (sp, db, o) => new AccessWorker(db, o, Logger<AccessWorker>(sp), Health(sp)));
        AddWorker<CheckWorkerOptions, CheckWorker>(services, configuration, CheckWorkerOptions.SectionName, o => o.Enabled,
            (sp, db, o) => new CheckWorker(db, o, Logger<CheckWorker>(sp), Health(sp), sp.GetService<ILlmProvider>(), sp.GetRequiredService<LlmUsageWriter>()));
        AddWorker<ExtractionWorkerOptions, ExtractionWorker>(services, configuration, ExtractionWorkerOptions.SectionName, o => o.Enabled,
            (sp, db, o) => new ExtractionWorker(db, o, sp.GetService<ILlmProvider>(), sp.GetRequiredService<LlmUsageWriter>(), Logger<ExtractionWorker>(sp), Health(sp)));
        AddWorker<ReflectionWorkerOptions, ReflectionWorker>(services, configuration, ReflectionWorkerOptions.SectionName, o => o.Enabled,
            (sp, db, o) => new ReflectionWorker(db, o, sp.GetService<ILlmProvider>(), sp.GetRequiredService<LlmUsageWriter>(), Logger<ReflectionWorker>(sp), Health(sp)));
        return services;
    }

    /// <summary>
    /// Binds a worker's options to its configuration section and, when they enable it, registers the worker as
    /// a singleton (so its health and tests can reach it) and as a hosted service.
    /// </summary>
    private static void AddWorker<TOptions, TWorker>(IServiceCollection services, IConfiguration configuration, string section,
        Func<TOptions, bool> enabled, Func<IServiceProvider, NpgsqlDataSource, TOptions, TWorker> create)
        where TOptions : class, new()
        where TWorker : class, IHostedService
    {
        services.AddOptions<TOptions>().Bind(configuration.GetSection(section));
        var options = new TOptions();
        configuration.GetSection(section).Bind(options);
        if (!enabled(options)) return;
        services.TryAddSingleton(sp => create(sp, sp.GetRequiredService<WorkerDataSource>().DataSource, sp.GetRequiredService<IOptions<TOptions>>().Value));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<TWorker>());
    }

    private static ILogger<T> Logger<T>(IServiceProvider services) => services.GetRequiredService<ILogger<T>>();

    private static WorkerHealthRegistry Health(IServiceProvider services) => services.GetRequiredService<WorkerHealthRegistry>();
}
