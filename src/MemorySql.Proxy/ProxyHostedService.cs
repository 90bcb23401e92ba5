using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MemorySql.Proxy;

/// <summary>
/// Runs a <see cref="ProxyServer"/> inside a generic host. Register with
/// <c>services.Configure&lt;ProxyOptions&gt;(configuration.GetSection(ProxyOptions.SectionName));
/// services.AddHostedService&lt;ProxyHostedService&gt;();</c> — an <see cref="IEmbeddingProvider"/>, an
/// <see cref="ILlmProvider"/> and an <see cref="ILlmUsageSink"/> in the container are used when there are.
/// </summary>
public sealed class ProxyHostedService : IHostedService, IAsyncDisposable
{
    private readonly ProxyServer _server;

    public ProxyHostedService(IOptions<ProxyOptions> options, IServiceProvider services, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        _server = new ProxyServer(options.Value, services.GetService<IEmbeddingProvider>(), loggers,
            services.GetService<ILlmProvider>(), services.GetService<ILlmUsageSink>());
    }

    /// <summary>The running server (its <see cref="ProxyServer.LocalEndPoint"/> once started).</summary>
    public ProxyServer Server => _server;

    public Task StartAsync(CancellationToken cancellationToken) => _server.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
