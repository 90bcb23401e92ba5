using System.Collections.Concurrent;

namespace MemorySql.Workers.Common;

/// <summary>A point-in-time copy of a worker's health, safe to hand to anything (status views, logs, probes).</summary>
public sealed record WorkerHealthSnapshot
{
    /// <summary>The worker's name, e.g. "embed".</summary>
    public required string Worker { get; init; }
    /// <summary>What the worker works for, e.g. the embedding model; null when not applicable.</summary>
    public string? Target { get; init; }
    public bool Running { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    /// <summary>When a batch last completed.</summary>
    public DateTimeOffset? LastSuccessAt { get; init; }
    public DateTimeOffset? LastErrorAt { get; init; }
    public string? LastError { get; init; }
    /// <summary>Failures in a row since the last success (0 when healthy).</summary>
    public int ConsecutiveErrors { get; init; }
    /// <summary>Items completed since start.</summary>
    public long Processed { get; init; }
    /// <summary>Items whose attempt failed and that were scheduled for another.</summary>
    public long Retried { get; init; }
    /// <summary>Items given up on (state 'failed') since start.</summary>
    public long Failed { get; init; }
    /// <summary>Items waiting in the queue at <see cref="QueueCheckedAt"/>.</summary>
    public long? QueueDepth { get; init; }
    /// <summary>Items in the failed state at <see cref="QueueCheckedAt"/>.</summary>
    public long? FailedDepth { get; init; }
    public DateTimeOffset? QueueCheckedAt { get; init; }
    /// <summary>Worker-specific counters, e.g. "queries" for the embed worker.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();
}

/// <summary>The live, thread-safe health of one worker; workers update it, <see cref="Snapshot"/> reads it.</summary>
public sealed class WorkerHealth
{
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private bool _running;
    private DateTimeOffset? _startedAt;
    private DateTimeOffset? _lastSuccessAt;
    private DateTimeOffset? _lastErrorAt;
    private string? _lastError;
    private int _consecutiveErrors;
    private long _processed;
    private long _retried;
    private long _failed;
    private long? _queueDepth;
    private long? _failedDepth;
    private DateTimeOffset? _queueCheckedAt;

    public WorkerHealth(string worker, string? target = null, TimeProvider? time = null)
    {
        Worker = worker;
        Target = target;
        _time = time ?? TimeProvider.System;
    }

    public string Worker { get; }
    public string? Target { get; }

    public void MarkRunning(bool running)
    {
        lock (_lock)
        {
            _running = running;
            if (running) _startedAt ??= _time.GetUtcNow();
        }
    }

    /// <summary>A batch completed: <paramref name="processed"/> items done.</summary>
    public void RecordSuccess(long processed)
    {
        Interlocked.Add(ref _processed, processed);
        lock (_lock)
        {
            _lastSuccessAt = _time.GetUtcNow();
            _consecutiveErrors = 0;
        }
    }

    public void RecordError(string message)
    {
        lock (_lock)
        {
            _lastErrorAt = _time.GetUtcNow();
            _lastError = message;
            _consecutiveErrors++;
        }
    }

    public void RecordRetried(long count) => Interlocked.Add(ref _retried, count);
    public void RecordFailed(long count) => Interlocked.Add(ref _failed, count);
    public void Count(string counter, long delta) => _counters.AddOrUpdate(counter, delta, (_, v) => v + delta);

    public void RecordQueue(long queued, long failed)
    {
        lock (_lock)
        {
            _queueDepth = queued;
            _failedDepth = failed;
            _queueCheckedAt = _time.GetUtcNow();
        }
    }

    public WorkerHealthSnapshot Snapshot()
    {
        lock (_lock)
        {
            return new WorkerHealthSnapshot
            {
                Worker = Worker,
                Target = Target,
                Running = _running,
                StartedAt = _startedAt,
                LastSuccessAt = _lastSuccessAt,
                LastErrorAt = _lastErrorAt,
                LastError = _lastError,
                ConsecutiveErrors = _consecutiveErrors,
                Processed = Interlocked.Read(ref _processed),
                Retried = Interlocked.Read(ref _retried),
                Failed = Interlocked.Read(ref _failed),
                QueueDepth = _queueDepth,
                FailedDepth = _failedDepth,
                QueueCheckedAt = _queueCheckedAt,
                Counters = new Dictionary<string, long>(_counters, StringComparer.Ordinal),
            };
        }
    }
}

/// <summary>Every worker's health in this process: what status endpoints, `memorysql status` and logs read.</summary>
public sealed class WorkerHealthRegistry
{
    private readonly ConcurrentDictionary<WorkerHealth, byte> _workers = new();

    public void Add(WorkerHealth health) => _workers.TryAdd(health, 0);

    public void Remove(WorkerHealth health) => _workers.TryRemove(health, out _);

    public IReadOnlyList<WorkerHealthSnapshot> Snapshot() =>
        [.. _workers.Keys.Select(w => w.Snapshot()).OrderBy(s => s.Worker, StringComparer.Ordinal).ThenBy(s => s.Target, StringComparer.Ordinal)];
}
