using MemorySql.Workers.Common;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Access;

/// <summary>
/// Folds recall's access hits into the memories (docs/sql.md#recall): recall appends one row per returned
/// memory to the unlogged memory.access_log — so that a recall commits without waiting for a WAL flush —
/// and this worker runs memory.fold_access every <see cref="AccessWorkerOptions.IntervalSeconds"/>, in
/// batches while hits are waiting. access_count and last_accessed_at are therefore at most an interval
/// (plus a batch) behind; a crash of PostgreSQL loses the hits not folded yet. Instances folding at once
/// never count a hit twice (the hits are taken FOR UPDATE SKIP LOCKED), and a fold never waits for a memory
/// a user's transaction holds locked (its hits wait for the next fold).
/// </summary>
internal sealed class AccessWorker : QueueWorker
{
    private readonly AccessWorkerOptions _options;

    public AccessWorker(NpgsqlDataSource adminDataSource, AccessWorkerOptions options, ILogger<AccessWorker> logger, WorkerHealthRegistry? registry = null)
        : base("access", null, adminDataSource, Pacing(options), logger, registry)
    {
        _options = options;
    }

    // Polling only: a NOTIFY from every recall would be a commit-time cost on the read path again.
    protected override string? NotifyChannel => null;

    private static QueueWorkerPacing Pacing(AccessWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        QueueWorkerPacing.ThrowIfInvalid("access", options.Validate(), nameof(options));
        return new QueueWorkerPacing { PollInterval = TimeSpan.FromSeconds(options.IntervalSeconds), Concurrency = 1 };
    }

    protected override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await SchemaRequirement.RequireAsync(DataSource, "access", ["memory.access_log", "memory.fold_access(integer)"], cancellationToken);
        Logger.LogInformation("Access worker ready: folds recall's access hits every {Interval} s in batches of {BatchSize}", _options.IntervalSeconds, _options.BatchSize);
    }

    protected override bool IsPermanent(Exception exception) => exception is InvalidOperationException;

    protected override async Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand("SELECT memory.fold_access($1)");
        command.Parameters.Add(new NpgsqlParameter { Value = _options.BatchSize });
        var folded = (int)(await command.ExecuteScalarAsync(cancellationToken))!;
        Health.RecordSuccess(folded);
        // A short batch means the log is drained (or what is left waits for a locked memory): sleep until the next interval.
        return new BatchOutcome(folded < _options.BatchSize ? 0 : folded, false);
    }

    protected override async Task RefreshQueueDepthAsync(CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand("SELECT count(*) FROM memory.access_log");
        Health.RecordQueue((long)(await command.ExecuteScalarAsync(cancellationToken))!, 0);
    }
}
