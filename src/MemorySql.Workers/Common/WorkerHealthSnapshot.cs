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
