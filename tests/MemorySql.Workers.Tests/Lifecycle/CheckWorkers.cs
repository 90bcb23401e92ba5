using MemorySql.Embeddings.Llm;
using MemorySql.Testing;
using MemorySql.Workers.Check;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>
/// The check workers one test class starts on its database, with whatever else they use: all stopped and disposed
/// when the class is done (the workers first, then the data sources and servers they used).
/// </summary>
internal sealed class CheckWorkers(TestDatabase db) : IAsyncDisposable
{
    private readonly List<CheckWorker> _workers = [];
    private readonly List<IAsyncDisposable> _cleanup = [];

    /// <summary>Fast enough for a test: polls every 0.2 s, retries after 0.05–0.2 s, batches of 8; <paramref name="configure"/> changes the rest.</summary>
    public static CheckWorkerOptions Options(Action<CheckWorkerOptions>? configure = null)
    {
        var options = new CheckWorkerOptions { PollIntervalSeconds = 0.2, RetryBaseSeconds = 0.05, RetryMaxSeconds = 0.2, BatchSize = 8 };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>
    /// Starts a check worker (with <see cref="Options"/> unless given) and waits until it is ready. With an
    /// <paramref name="applicationName"/> it runs on a data source of its own under that name (to find or kill its
    /// backends); else on the database's admin data source.
    /// </summary>
    public async Task<CheckWorker> StartAsync(CheckWorkerOptions? options = null, ILlmProvider? llm = null, string? applicationName = null,
        LlmUsageWriter? usage = null)
    {
        var dataSource = db.Admin;
        if (applicationName is not null)
        {
            dataSource = NpgsqlDataSource.Create(db.Server.Cluster.AdminConnectionString(db.Name) + ";Application Name=" + applicationName);
            _cleanup.Add(dataSource);
        }
        var worker = new CheckWorker(dataSource, options ?? Options(), NullLogger<CheckWorker>.Instance, null, llm, usage);
        _workers.Add(worker);
        await worker.StartAsync(CancellationToken.None);
        await worker.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return worker;
    }

    /// <summary>Disposes <paramref name="resource"/> after the workers have stopped.</summary>
    public void DisposeLater(IAsyncDisposable resource) => _cleanup.Add(resource);

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.StopAsync(CancellationToken.None);
            worker.Dispose();
        }
        foreach (var item in _cleanup) await item.DisposeAsync();
    }
}
