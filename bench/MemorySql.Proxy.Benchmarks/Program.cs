using System.Globalization;
using BenchmarkDotNet.Running;
using MemorySql.Embeddings;
using MemorySql.Proxy;
using MemorySql.Proxy.Benchmarks;
using Microsoft.Extensions.Logging;

// Modes:
//   (none) or BenchmarkDotNet arguments   the relay micro-benchmarks (RelayBenchmarks)
//   idle-memory [N]                        memory held per idle session with N sessions (default 1000)
//   serve --upstream-port P [--upstream-host H] [--port Q] [--socket-engine Auto|Epoll|DotNet] [--report-allocations] [--memory-calls]
//                                          a proxy for bench/proxy-pgbench.sh: bare, or with --memory-calls as `memorysql up` runs it
//                                          (the builtin embedding provider: every Query and Parse is checked for memory calls)
//   helper                                 internal: the child process of idle-memory
switch (args.FirstOrDefault())
{
    case "idle-memory":
        return await IdleMemory.RunAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1000);
    case "helper":
        return await IdleMemory.HelperAsync();
    case "serve":
        // Before any socket exists; "--thread-pool-completions" keeps .NET's default for comparison.
        if (!args.Contains("--thread-pool-completions")) ProxyServer.EnableInlineSocketCompletions();
        return await ServeAsync(args);
    default:
        BenchmarkSwitcher.FromAssembly(typeof(RelayBenchmarks).Assembly).Run(args);
        return 0;
}

static async Task<int> ServeAsync(string[] args)
{
    string Arg(string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
    var options = new ProxyOptions
    {
        Port = int.Parse(Arg("--port", "6432"), CultureInfo.InvariantCulture),
        SocketEngine = Enum.Parse<ProxySocketEngine>(Arg("--socket-engine", "Auto"), ignoreCase: true),
        Upstream =
        {
            Host = Arg("--upstream-host", "127.0.0.1"),
            Port = int.Parse(Arg("--upstream-port", "5432"), CultureInfo.InvariantCulture),
            TlsMode = UpstreamTlsMode.Disable,
        },
    };
    using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning));
    IEmbeddingProvider? embeddings = args.Contains("--memory-calls") ? new BuiltinEmbeddingProvider() : null;
    await using var proxy = new ProxyServer(options, embeddings, loggers);
    await proxy.StartAsync(CancellationToken.None);
    Console.WriteLine($"listening {proxy.LocalEndPoint}");
    var stop = new TaskCompletionSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.TrySetResult();
    };
    AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
    using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
    {
        c.Cancel = true;
        stop.TrySetResult();
    });
    if (args.Contains("--report-allocations"))
    {
        // Bytes allocated by the whole process every 5 s: with a steady pgbench load, divide by its transactions
        // to see what a relayed round trip allocates (the goal is nothing).
        _ = Task.Run(async () =>
        {
            var last = GC.GetTotalAllocatedBytes(precise: true);
            while (!stop.Task.IsCompleted)
            {
                await Task.Delay(TimeSpan.FromSeconds(5));
                var now = GC.GetTotalAllocatedBytes(precise: true);
                Console.WriteLine($"allocated {now - last} bytes in 5 s, gen0 collections {GC.CollectionCount(0)}");
                last = now;
            }
        });
    }
    await stop.Task;
    return 0;
}
