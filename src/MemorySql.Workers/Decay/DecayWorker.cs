using System.Diagnostics;
using MemorySql.Workers.Common;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MemorySql.Workers.Decay;

/// <summary>
/// Runs decay passes (docs/lifecycle.md): every <see cref="DecayWorkerOptions.IntervalSeconds"/>, or at once
/// on NOTIFY memory_decay, it walks every active, unpinned memory in batches of memory.archive_decayed — one
/// transaction each, rows locked FOR UPDATE SKIP LOCKED and re-checked — archiving those not used for the
/// policy's archive_min_age whose effective importance is below its archive_threshold. Archived memories
/// are never deleted. Instances running passes at the same time never archive a memory twice; a pass cut
/// short by a crash is simply run again (every batch is complete or not there at all).
/// </summary>
internal sealed class DecayWorker : QueueWorker
{
    public const string Channel = "memory_decay";

    private readonly DecayWorkerOptions _options;
    private readonly Stopwatch _passClock = new();
    private DateTime? _afterCreated;
    private Guid? _afterId;
    private long _passScanned;
    private long _passArchived;

    public DecayWorker(NpgsqlDataSource adminDataSource, DecayWorkerOptions options, ILogger<DecayWorker> logger, WorkerHealthRegistry? registry = null)
        : base("decay", null, adminDataSource, Pacing(options), logger, registry)
    {
        _options = options;
    }

    protected override string? NotifyChannel => Channel;

    private static QueueWorkerPacing Pacing(DecayWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        QueueWorkerPacing.ThrowIfInvalid("decay", options.Validate(), nameof(options));
        // One loop: a pass is a walk with a position, not a queue to share.
        return new QueueWorkerPacing { PollInterval = TimeSpan.FromSeconds(options.IntervalSeconds), Concurrency = 1 };
    }

    protected override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await SchemaRequirement.RequireAsync(DataSource, "decay", ["memory.archive_decayed(integer, timestamptz, uuid)"], cancellationToken);
        Logger.LogInformation("Decay worker ready: a pass every {Interval} s in batches of {BatchSize}", _options.IntervalSeconds, _options.BatchSize);
    }

    protected override bool IsPermanent(Exception exception) => exception is InvalidOperationException;

    protected override async Task<BatchOutcome> RunBatchAsync(CancellationToken cancellationToken)
    {
        if (_afterId is null) _passClock.Restart();
        await using var command = DataSource.CreateCommand("SELECT scanned, archived, last_created, last_id FROM memory.archive_decayed($1, $2, $3)");
        command.Parameters.Add(new NpgsqlParameter { Value = _options.BatchSize });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)_afterCreated ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)_afterId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Uuid });
        int scanned, archived;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            scanned = reader.GetInt32(0);
            archived = reader.GetInt32(1);
            if (scanned > 0)
            {
                _afterCreated = reader.GetDateTime(2);
                _afterId = reader.GetGuid(3);
            }
        }
        if (scanned == 0)
        {
            Health.Count("passes", 1);
            Health.RecordSuccess(0);
            Logger.LogInformation("Decay pass done: {Scanned} memories looked at, {Archived} archived, in {Elapsed:F1} s",
                _passScanned, _passArchived, _passClock.Elapsed.TotalSeconds);
            _afterCreated = null;
            _afterId = null;
            _passScanned = 0;
            _passArchived = 0;
            return BatchOutcome.Idle;
        }
        _passScanned += scanned;
        _passArchived += archived;
        Health.RecordSuccess(scanned);
        if (archived > 0) Health.Count("archived", archived);
        return new BatchOutcome(scanned, false);
    }
}
