using System.Net;
using System.Net.Sockets;
using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Protocol;
using Microsoft.Extensions.Logging;

namespace MemorySql.Proxy;

/// <summary>
/// The MemorySql PostgreSQL proxy: listens for clients and relays each one to its own upstream connection.
/// Start it with <see cref="StartAsync"/>, stop it with <see cref="StopAsync"/> or by disposing it.
/// </summary>
public sealed class ProxyServer : IAsyncDisposable
{
    private readonly ProxyOptions _options;
    private readonly ILogger _logger;
    private readonly ProxyRuntime _runtime;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _background = [];
    private Socket? _listener;
    private int _connections;

    /// <param name="options">Listener, upstream, TLS and limits (configuration section <c>Proxy</c>).</param>
    /// <param name="embeddings">Computes embeddings for memory calls; null relays memory calls unchanged.</param>
    /// <param name="loggers">Where the proxy logs.</param>
    public ProxyServer(ProxyOptions options, IEmbeddingProvider? embeddings, ILoggerFactory loggers) : this(options, embeddings, loggers, null, null)
    {
    }

    /// <param name="options">Listener, upstream, TLS and limits (configuration section <c>Proxy</c>).</param>
    /// <param name="embeddings">Computes embeddings for memory calls; null relays memory calls unchanged.</param>
    /// <param name="loggers">Where the proxy logs.</param>
    /// <param name="llm">Answers reflect() through the proxy (needs <paramref name="embeddings"/>); null: reflect is extractive and says so.</param>
    /// <param name="usage">Records the LLM's tokens per workspace (memory.llm_usage); null: they are only logged.</param>
    public ProxyServer(ProxyOptions options, IEmbeddingProvider? embeddings, ILoggerFactory loggers, ILlmProvider? llm, ILlmUsageSink? usage)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var problems = options.Validate();
        if (problems.Count > 0) throw new ArgumentException("Invalid proxy configuration: " + string.Join(" ", problems), nameof(options));
        _options = options;
        _logger = loggers.CreateLogger<ProxyServer>();
        var certificate = TlsSetup.LoadServerCertificate(options.Tls);
        _runtime = new ProxyRuntime(options, embeddings, loggers, certificate is null ? null : TlsSetup.ServerOptions(certificate), llm, usage);
    }

    /// <summary>The environment variable that makes .NET run socket continuations on its epoll threads.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Lets socket completions run the relay directly on .NET's event threads instead of handing each one to
    /// the thread pool: one thread switch less per message each way, which on a busy machine is most of the
    /// proxy's added latency (see docs/benchmarks.md). The relay never blocks, so this is safe for it. .NET
    /// reads the variable once, when the first socket operation of the process starts: call this first
    /// thing in Main. Returns false when the variable was already set to something else.
    /// </summary>
    public static bool EnableInlineSocketCompletions()
    {
        var current = Environment.GetEnvironmentVariable(InlineCompletionsVariable);
        if (current is not null && current != "1") return false;
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        return true;
    }

    /// <summary>The address and port the proxy listens on (the real port when <see cref="ProxyOptions.Port"/> is 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint ?? throw new InvalidOperationException("the proxy is not started");

    /// <summary>Client connections open right now.</summary>
    public int ConnectionCount => Volatile.Read(ref _connections);

    /// <summary>Binds the listener and starts accepting clients; returns once the port is open.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_listener is not null) throw new InvalidOperationException("the proxy is already started");
        var endPoint = new IPEndPoint(IPAddress.Parse(_options.ListenAddress), _options.Port);
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
                listener.DualMode = true;
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endPoint);
            listener.Listen(4096);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new InvalidOperationException($"MemorySql cannot listen on {endPoint}: {e.Message} (Proxy:ListenAddress, Proxy:Port)", e);
        }
        _listener = listener;
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) != "1")
            _logger.LogInformation("{Variable} is not 1: every relayed message takes a thread-pool hop (call ProxyServer.EnableInlineSocketCompletions() at the start of Main)", InlineCompletionsVariable);
        _logger.LogInformation("MemorySql proxy listening on {EndPoint}, relaying to PostgreSQL at {Upstream} (client TLS {Tls})",
            LocalEndPoint, _runtime.Connector.Description, _runtime.ClientTls is null ? "off" : "on");
        _background.Add(Task.Run(AcceptLoopAsync, CancellationToken.None));
        if (_options.Limits.ClientIdleTimeout > TimeSpan.Zero)
            _background.Add(Task.Run(IdleSweepAsync, CancellationToken.None));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops accepting, ends every session (clients get FATAL 57P01, upstream connections a Terminate) and
    /// waits for them until <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        var reason = PgError.Fatal(SqlStates.AdminShutdown, "terminating connection because MemorySql is shutting down");
        foreach (var session in _runtime.Sessions.Values) session.Abort(reason);
        var sessions = _runtime.Sessions.Values.Select(s => s.Completion).Where(t => t is not null).Cast<Task>().ToArray();
        try
        {
            await Task.WhenAll(_background.Concat(sessions)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Stopped waiting for {Count} proxy sessions to end", _runtime.Sessions.Count);
        }
        _logger.LogInformation("MemorySql proxy stopped");
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await StopAsync(timeout.Token).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var listener = _listener!;
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Transient accept failures (the client reset before accept, or out of descriptors): keep going.
                _logger.LogWarning("Accepting a client connection failed: {Message}", e.Message);
                await Task.Delay(10).ConfigureAwait(false);
                continue;
            }

            if (Interlocked.Increment(ref _connections) > _options.Limits.MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                _ = RefuseAsync(socket);
                continue;
            }
            var session = new ClientSession(_runtime, socket);
            _runtime.Sessions[session.Id] = session;
            session.Completion = RunSessionAsync(session);
        }
    }

    private async Task RunSessionAsync(ClientSession session)
    {
        try
        {
            await Task.Yield(); // leave the accept loop at once
            await session.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
        }
    }

    private async Task RefuseAsync(Socket socket)
    {
        _logger.LogWarning("Refused a client: {Max} connections are open (Proxy:Limits:MaxConnections)", _options.Limits.MaxConnections);
        try
        {
            var error = new MessageBuilder().ErrorResponse(PgError.Fatal(SqlStates.TooManyConnections,
                $"sorry, too many clients already: MemorySql allows {_options.Limits.MaxConnections} connections (Proxy:Limits:MaxConnections)")).ToArray();
            await socket.SendAsync(error, SocketFlags.None).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    private async Task IdleSweepAsync()
    {
        var timeout = _options.Limits.ClientIdleTimeout;
        var period = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 4, 50, 1000));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                var now = Environment.TickCount64;
                foreach (var session in _runtime.Sessions.Values)
                {
                    if (session.IsRelaying && session.Clock.QuietFor(now) > timeout.TotalMilliseconds)
                    {
                        session.Abort(PgError.Fatal(SqlStates.IdleSessionTimeout,
                            $"terminating connection due to idle-session timeout ({timeout.TotalSeconds:0.#} s, Proxy:Limits:ClientIdleTimeout)"));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
