using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Proxy;
using MemorySql.Workers;
using Npgsql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MemorySql.Hosting;

/// <summary>Registers the proxy, the embedding provider and the workers from configuration.</summary>
internal static class MemorySqlServices
{
    public static void Add(IServiceCollection services, IConfiguration configuration, HostTarget target)
    {
        services.Configure<ProxyOptions>(configuration.GetSection(ProxyOptions.SectionName));
        // The upstream defaults to the database being served; configuration may point elsewhere.
        services.PostConfigure<ProxyOptions>(o =>
        {
            var upstream = configuration.GetSection(ProxyOptions.SectionName).GetSection("Upstream");
            if (upstream["Host"] is null) o.Upstream.Host = target.UpstreamHost;
            if (upstream["Port"] is null) o.Upstream.Port = target.UpstreamPort;
            if (upstream["TlsMode"] is null) o.Upstream.TlsMode = target.UpstreamTls;
            if (upstream["TlsCaFile"] is null && target.UpstreamCaFile is not null) o.Upstream.TlsCaFile = target.UpstreamCaFile;
        });
        // The provider embeds for the proxy (query texts, writes) and for the workers (the queue): one model.
        services.AddMemorySqlEmbeddings(configuration);
        // The chat model (Llm:Provider; none by default) answers reflect through the proxy and serves extraction and
        // reflection; its usage is written by the workers' LLM usage writer (ILlmUsageSink).
        services.AddMemorySqlLlm(configuration);
        if (target.MemorySchemaInstalled)
        {
            services.AddMemorySqlWorkers(configuration, _ => new NpgsqlDataSourceBuilder(target.AdminConnectionString)
            {
                Name = "memorysql-workers",
                ConnectionStringBuilder = { ApplicationName = "memorysql-workers" },
            }.Build());
        }
        services.AddHostedService<ProxyHostedService>();
    }
}
