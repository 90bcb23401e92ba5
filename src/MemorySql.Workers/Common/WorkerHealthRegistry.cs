using System.Collections.Concurrent;

namespace MemorySql.Workers.Common;

/// <summary>Every worker's health in this process: what status endpoints, `memorysql status` and logs read.</summary>
public sealed class WorkerHealthRegistry
{
    private readonly ConcurrentDictionary<WorkerHealth, byte> _workers = new();

    internal void Add(WorkerHealth health) => _workers.TryAdd(health, 0);

    internal void Remove(WorkerHealth health) => _workers.TryRemove(health, out _);

    public IReadOnlyList<WorkerHealthSnapshot> Snapshot() =>
        [.. _workers.Keys.Select(w => w.Snapshot()).OrderBy(s => s.Worker, StringComparer.Ordinal).ThenBy(s => s.Target, StringComparer.Ordinal)];
}
