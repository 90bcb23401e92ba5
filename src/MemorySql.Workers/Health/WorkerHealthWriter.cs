using System.Text.Json;
using MemorySql.Workers.Common;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Health;

/// <summary>
/// Writes the health of every worker in this process (<see cref="WorkerHealthRegistry"/>) to
/// memory.worker_health every <see cref="WorkerHealthOptions.IntervalSeconds"/>, one row per worker, target
/// and instance, so memory.worker_status, memory.stats and <c>memorysql status</c> show every MemorySql process
/// sharing the database. On a clean stop it writes once more with <c>running = false</c>. A failed write is
/// logged and retried at the next period; workers never wait for it.
/// </summary>
internal sealed class WorkerHealthWriter : BackgroundService
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromHours(1);

    private readonly NpgsqlDataSource _dataSource;
    private readonly WorkerHealthRegistry _registry;
    private readonly WorkerHealthOptions _options;
    private readonly ILogger _logger;
    private readonly string _instance;
    private long _lastPrune = long.MinValue;
    private bool _failing;

    public WorkerHealthWriter(NpgsqlDataSource adminDataSource, WorkerHealthRegistry registry, WorkerHealthOptions options, ILogger<WorkerHealthWriter> logger)
    {
        ArgumentNullException.ThrowIfNull(adminDataSource);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid worker health configuration: " + string.Join("; ", errors), nameof(options));
        _dataSource = adminDataSource;
        _registry = registry;
        _options = options;
        _logger = logger;
        _instance = options.ResolvedInstance;
    }

    /// <summary>The name this process's rows carry.</summary>
    public string Instance => _instance;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WorkerSynchronizationContext.Enter(); // never continue on a socket thread
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.IntervalSeconds));
        do
        {
            await TryWriteAsync(stopped: false, stoppingToken);
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // Registered before the workers, this writer stops after them (hosted services stop in reverse order): the
        // last write shows them stopped.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        await TryWriteAsync(stopped: true, timeout.Token);
    }

    /// <summary>Writes the current snapshot now; false (logged) when the database could not be reached.</summary>
    public async Task<bool> TryWriteAsync(bool stopped, CancellationToken cancellationToken)
    {
        var snapshots = _registry.Snapshot();
        try
        {
            await WriteAsync(snapshots, stopped, cancellationToken);
            if (_failing) _logger.LogInformation("Writing worker health to memory.worker_health works again");
            _failing = false;
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
        {
            if (!_failing) _logger.LogWarning("Could not write worker health to memory.worker_health ({Error}); trying again every {Interval} s", e.Message, _options.IntervalSeconds);
            _failing = true;
            return false;
        }
    }

    private async Task WriteAsync(IReadOnlyList<WorkerHealthSnapshot> snapshots, bool stopped, CancellationToken cancellationToken)
    {
        var rows = snapshots.Select(s => new HealthRow
        {
            Worker = s.Worker,
            Target = s.Target ?? "",
            Running = s.Running && !stopped,
            StartedAt = s.StartedAt,
            LastSuccessAt = s.LastSuccessAt,
            LastErrorAt = s.LastErrorAt,
            LastError = s.LastError is { Length: > 2000 } text ? text[..2000] + "…" : s.LastError,
            ConsecutiveErrors = s.ConsecutiveErrors,
            Processed = s.Processed,
            Retried = s.Retried,
            Failed = s.Failed,
            QueueDepth = s.QueueDepth,
            FailedDepth = s.FailedDepth,
            QueueCheckedAt = s.QueueCheckedAt,
            Counters = s.Counters,
        }).ToList();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        if (rows.Count > 0)
        {
            var upsert = new NpgsqlBatchCommand("""
                INSERT INTO memory.worker_health AS h (worker, target, instance, running, started_at, heartbeat_at, heartbeat_interval,
                  last_success_at, last_error_at, last_error, consecutive_errors, processed, retried, failed, queue_depth,
                  failed_depth, queue_checked_at, counters)
                SELECT u.worker, u.target, $1, u.running, u.started_at, now(), make_interval(secs => $2), u.last_success_at,
                       u.last_error_at, u.last_error, u.consecutive_errors, u.processed, u.retried, u.failed, u.queue_depth,
                       u.failed_depth, u.queue_checked_at, coalesce(u.counters, '{}')
                FROM jsonb_to_recordset($3::jsonb) AS u(worker text, target text, running boolean, started_at timestamptz,
                  last_success_at timestamptz, last_error_at timestamptz, last_error text, consecutive_errors integer,
                  processed bigint, retried bigint, failed bigint, queue_depth bigint, failed_depth bigint,
                  queue_checked_at timestamptz, counters jsonb)
                ON CONFLICT (worker, target, instance) DO UPDATE SET
                  running = excluded.running, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                  heartbeat_interval = excluded.heartbeat_interval, last_success_at = excluded.last_success_at,
                  last_error_at = excluded.last_error_at, last_error = excluded.last_error,
                  consecutive_errors = excluded.consecutive_errors, processed = excluded.processed, retried = excluded.retried,
                  failed = excluded.failed, queue_depth = excluded.queue_depth, failed_depth = excluded.failed_depth,
                  queue_checked_at = excluded.queue_checked_at, counters = excluded.counters
                """);
            upsert.Parameters.Add(new NpgsqlParameter { Value = _instance });
            upsert.Parameters.Add(new NpgsqlParameter { Value = _options.IntervalSeconds });
            upsert.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(rows, HealthJsonContext.Default.ListHealthRow), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Jsonb });
            batch.BatchCommands.Add(upsert);
        }
        var now = Environment.TickCount64;
        if (_lastPrune == long.MinValue || now - _lastPrune >= PruneEvery.TotalMilliseconds)
        {
            var prune = new NpgsqlBatchCommand("DELETE FROM memory.worker_health WHERE heartbeat_at < now() - make_interval(secs => $1)");
            prune.Parameters.Add(new NpgsqlParameter { Value = _options.RetentionDays * 86400 });
            batch.BatchCommands.Add(prune);
            _lastPrune = now;
        }
        if (batch.BatchCommands.Count > 0) await batch.ExecuteNonQueryAsync(cancellationToken);
    }
}
