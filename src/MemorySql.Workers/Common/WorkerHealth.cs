using System.Collections.Concurrent;

namespace MemorySql.Workers.Common;

/// <summary>The live, thread-safe health of one worker; workers update it, <see cref="Snapshot"/> reads it.</summary>
internal sealed class WorkerHealth
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
