using System.Collections.Concurrent;
using System.Net.Security;
using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Protocol;
using MemorySql.Proxy.Rewriting;
using Microsoft.Extensions.Logging;

namespace MemorySql.Proxy;

/// <summary>What every session of one <see cref="ProxyServer"/> shares.</summary>
internal sealed class ProxyRuntime
{
    /// <summary>Authentication and startup messages are small; anything larger than this is not one.</summary>
    public const int StartupPhaseMaxPayload = 1024 * 1024;

    public ProxyRuntime(ProxyOptions options, IEmbeddingProvider? embeddings, ILoggerFactory loggers, SslServerAuthenticationOptions? clientTls,
        ILlmProvider? llm = null, ILlmUsageSink? usage = null)
    {
        Options = options;
        Embeddings = embeddings;
        Llm = llm;
        LlmUsage = usage;
        ClientTls = clientTls;
        Connector = new UpstreamConnector(options.Upstream, options.UsesEpoll);
        SessionLogger = loggers.CreateLogger("MemorySql.Proxy.Session");
        Plans = embeddings is null ? null : new PlanCache(MemorySql.Rewrite.SqlRewriter.Default);
    }

    public ProxyOptions Options { get; }
    public IEmbeddingProvider? Embeddings { get; }

    /// <summary>The chat model reflect() calls are answered with; null: reflect is extractive and says why.</summary>
    public ILlmProvider? Llm { get; }

    /// <summary>Where the tokens of those calls are recorded (memory.llm_usage).</summary>
    public ILlmUsageSink? LlmUsage { get; }
    public SslServerAuthenticationOptions? ClientTls { get; }
    public UpstreamConnector Connector { get; }
    public CancelRegistry Cancels { get; } = new();
    public ConcurrentDictionary<long, ClientSession> Sessions { get; } = new();
    public ILogger SessionLogger { get; }

    /// <summary>Rewrite plans per statement text; null when no embedding provider is configured (memory calls pass unchanged).</summary>
    public PlanCache? Plans { get; }

    /// <summary>Forwards a client's CancelRequest to the one session its key belongs to; silently ignores others.</summary>
    public async Task ForwardCancelAsync(StartupPacket cancel, CancellationToken cancellationToken)
    {
        var session = Cancels.Find(cancel.CancelProcessId, cancel.CancelSecret);
        if (session is null)
        {
            SessionLogger.LogDebug("Ignored a cancel request for unknown process id {ProcessId}", cancel.CancelProcessId);
            return;
        }
        await session.ForwardCancelAsync(cancellationToken).ConfigureAwait(false);
    }
}
