using System.Globalization;
using System.Net.Sockets;
using MemorySql.Embeddings;
using MemorySql.Hosting;
using MemorySql.Proxy;
using MemorySql.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Eval;

/// <summary>
/// The MemorySql an evaluation talks to: either a temporary embedded instance of its own (a private
/// PostgreSQL cluster in a temporary folder, with the proxy and the workers in this process on a free
/// port), removed afterwards; or the running `memorysql up` of a data folder.
/// </summary>
internal sealed class EvalEnvironment : IAsyncDisposable
{
    private readonly LocalInstance? _instance;
    private readonly IHost? _host;
    private readonly string? _temporaryFolder;

    private EvalEnvironment(EvalTarget target, string description, LocalInstance? instance, IHost? host, string? temporaryFolder)
    {
        Target = target;
        Description = description;
        _instance = instance;
        _host = host;
        _temporaryFolder = temporaryFolder;
    }

    public EvalTarget Target { get; }

    /// <summary>What the run measured against, for the report.</summary>
    public string Description { get; }

    /// <summary>Starts a temporary instance; <paramref name="configuration"/> may choose the embedding provider like for `up`.</summary>
    public static async Task<EvalEnvironment> StartTemporaryAsync(IConfiguration configuration, Action<string> progress, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Path.GetTempPath(), "memorysql-eval-" + Guid.NewGuid().ToString("N")[..12]);
        LocalInstance? instance = null;
        IHost? host = null;
        try
        {
            instance = await LocalInstance.StartAsync(folder, 0, progress, cancellationToken, ClusterOptions.FromConfiguration(configuration));
            var target = new HostTarget(instance.Folder.AdminConnectionString(), instance.UpstreamHost, instance.Folder.State.PostgresPort,
                UpstreamTlsMode.Disable, UpstreamCaFile: null, MemorySchemaInstalled: true);
            var settings = new ConfigurationBuilder().AddConfiguration(configuration).AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Proxy:Port"] = "0",
                ["Proxy:ListenAddress"] = "127.0.0.1",
            }).Build();
            host = await MemorySqlHost.StartAsync(settings, target, LogLevel.Warning, cancellationToken);
            var proxy = host.Services.GetServices<IHostedService>().OfType<ProxyHostedService>().Single();
            var model = host.Services.GetRequiredService<IEmbeddingProvider>().Model;
            progress($"proxy on 127.0.0.1:{proxy.Server.LocalEndPoint.Port}, embedding model {model}");
            await WaitForModelAsync(instance.Folder.AdminConnectionString(), model, cancellationToken);
            return new EvalEnvironment(
                new EvalTarget(instance.Folder.AdminConnectionString(), "127.0.0.1", proxy.Server.LocalEndPoint.Port, DataFolder.DatabaseName),
                $"temporary embedded instance, model {model}", instance, host, folder);
        }
        catch
        {
            await StopAsync(host, instance, folder);
            throw;
        }
    }

    /// <summary>Uses the running `memorysql up` of a data folder (its proxy, its embedding model).</summary>
    public static async Task<EvalEnvironment> AttachAsync(string dataDir, CancellationToken cancellationToken)
    {
        var folder = DataFolder.Open(dataDir);
        using (var probe = new TcpClient())
        {
            try
            {
                await probe.ConnectAsync("127.0.0.1", folder.State.ProxyPort, cancellationToken);
            }
            catch (SocketException)
            {
                throw new InvalidOperationException(
                    $"no MemorySql proxy listens on 127.0.0.1:{folder.State.ProxyPort.ToString(CultureInfo.InvariantCulture)} for {folder.Path}; start it with memorysql up --data-dir {folder.Path}, or leave out --data-dir to evaluate on a temporary instance");
            }
        }
        return new EvalEnvironment(new EvalTarget(folder.AdminConnectionString(), "127.0.0.1", folder.State.ProxyPort, DataFolder.DatabaseName),
            $"memorysql up in {folder.Path}", null, null, null);
    }

    /// <summary>The embed worker registers its model when it starts; memories written before that would not be embedded by the proxy.</summary>
    private static async Task WaitForModelAsync(string adminConnectionString, string model, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync(cancellationToken);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            await using var command = new NpgsqlCommand("SELECT 1 FROM memory.models WHERE name = $1", connection);
            command.Parameters.Add(new() { Value = model });
            if (await command.ExecuteScalarAsync(cancellationToken) is not null) return;
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"the embed worker did not register model {model} within 60 s; check Workers:Embed in the configuration");
            await Task.Delay(100, cancellationToken);
        }
    }

    private static async Task StopAsync(IHost? host, LocalInstance? instance, string? folder)
    {
        // The run's last await (an Npgsql call) may have continued on a socket event thread (inline completions,
        // Program.Main). What follows blocks — the host's synchronous Dispose, pg_ctl — and needs that engine to
        // finish: leave the socket thread first, or the process waits on itself forever (seen: eval never exited).
        await Task.Yield();
        if (host is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await host.StopAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Stopping took too long; the cluster is stopped below anyway.
            }
            if (host is IAsyncDisposable asyncHost) await asyncHost.DisposeAsync();
            else host.Dispose();
        }
        if (instance is not null) await instance.DisposeAsync();
        if (folder is not null && Directory.Exists(folder))
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A leftover temporary folder is harmless; say where it is.
                Console.Error.WriteLine($"  could not remove {folder}: {e.Message}");
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(_host, _instance, _temporaryFolder);
}
