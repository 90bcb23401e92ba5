using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using MemorySql.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemorySql.Proxy.Benchmarks;

/// <summary>
/// Memory held per idle session: this process runs only the proxy; a child process (this program in
/// "helper" mode) runs the fake upstream and the clients, so their memory does not count. N clients log
/// in, run one query each and stay idle; the managed heap and RSS are compared with the same proxy
/// before they connected (after a warm-up round, so JIT and pools are already paid for).
/// </summary>
internal static class IdleMemory
{
    public static async Task<int> RunAsync(int connections)
    {
        var self = Environment.ProcessPath!;
        var assembly = typeof(IdleMemory).Assembly.Location;
        var info = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") info.ArgumentList.Add(assembly);
        info.ArgumentList.Add("helper");
        using var helper = Process.Start(info)!;
        var upstreamPort = int.Parse((await helper.StandardOutput.ReadLineAsync())!.Split(' ')[1], CultureInfo.InvariantCulture);

        var options = new ProxyOptions { Port = 0, Upstream = { Host = "127.0.0.1", Port = upstreamPort, TlsMode = UpstreamTlsMode.Disable }, Limits = { MaxConnections = connections + 100 } };
        await using var proxy = new ProxyServer(options, null, NullLoggerFactory.Instance);
        await proxy.StartAsync(CancellationToken.None);
        var port = proxy.LocalEndPoint.Port;

        async Task Command(string line, string expect)
        {
            await helper.StandardInput.WriteLineAsync(line);
            await helper.StandardInput.FlushAsync();
            var answer = await helper.StandardOutput.ReadLineAsync();
            if (answer is null || !answer.StartsWith(expect, StringComparison.Ordinal)) throw new InvalidOperationException($"helper answered '{answer}' to '{line}'");
        }

        // Warm-up: JIT, thread pool, array pools.
        await Command($"connect 200 {port}", "ready");
        await Command("close", "closed");
        await WaitFor(() => proxy.ConnectionCount == 0);
        var (heapBefore, rssBefore) = Measure();

        await Command($"connect {connections} {port}", "ready");
        await WaitFor(() => proxy.ConnectionCount == connections);
        await Task.Delay(2000);
        var (heapAfter, rssAfter) = Measure();

        await Command("close", "closed");
        await Command("quit", "bye");
        var heapPer = (heapAfter - heapBefore) / (double)connections;
        var rssPer = (rssAfter - rssBefore) / (double)connections;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"idle sessions: {connections}\nmanaged heap: {heapBefore / 1048576.0:0.0} MiB -> {heapAfter / 1048576.0:0.0} MiB = {heapPer / 1024:0.0} KiB per session\nRSS: {rssBefore / 1048576.0:0.0} MiB -> {rssAfter / 1048576.0:0.0} MiB = {rssPer / 1024:0.0} KiB per session"));
        return 0;
    }

    private static (long Heap, long Rss) Measure()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        var rssLine = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        var rss = long.Parse(rssLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return (heap, rss);
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(100);
        if (!condition()) throw new TimeoutException("the proxy did not reach the expected connection count");
    }

    /// <summary>The child: fake upstream plus the clients, driven by lines on stdin.</summary>
    public static async Task<int> HelperAsync()
    {
        using var server = new BenchFakeServer();
        Console.WriteLine($"upstream {server.Port}");
        var clients = new List<Socket>();
        while (await Console.In.ReadLineAsync() is { } line)
        {
            var parts = line.Split(' ');
            switch (parts[0])
            {
                case "connect":
                    var count = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    var port = int.Parse(parts[2], CultureInfo.InvariantCulture);
                    for (var i = 0; i < count; i += 50)
                        clients.AddRange(await Task.WhenAll(Enumerable.Range(0, Math.Min(50, count - i)).Select(_ => OpenClientAsync(port))));
                    Console.WriteLine($"ready {clients.Count}");
                    break;
                case "close":
                    foreach (var c in clients) c.Dispose();
                    clients.Clear();
                    Console.WriteLine("closed");
                    break;
                case "quit":
                    Console.WriteLine("bye");
                    return 0;
            }
        }
        return 0;
    }

    private static async Task<Socket> OpenClientAsync(int port)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync("127.0.0.1", port);
        var stream = new NetworkStream(socket, ownsSocket: false);
        var startup = new MessageBuilder().StartupMessage(0, [new StartupParameter(Encoding.UTF8.GetBytes("user"), Encoding.UTF8.GetBytes("bench"))]);
        await stream.WriteAsync(startup.WrittenMemory);
        await ReadUntilReadyAsync(stream);
        await stream.WriteAsync(new MessageBuilder().Query("SELECT 1").WrittenMemory);
        await ReadUntilReadyAsync(stream);
        return socket;
    }

    private static async Task ReadUntilReadyAsync(Stream stream)
    {
        var header = new byte[5];
        while (true)
        {
            await stream.ReadExactlyAsync(header);
            var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await stream.ReadExactlyAsync(body);
            if (header[0] == 'Z') return;
            if (header[0] == 'E') throw new InvalidOperationException("login failed: " + ErrorFields.Parse(body));
        }
    }
}
