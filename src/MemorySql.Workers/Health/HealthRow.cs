using System.Text.Json.Serialization;

namespace MemorySql.Workers.Health;

/// <summary>One row of memory.worker_health as the writer sends it (jsonb_to_recordset reads these names).</summary>
internal sealed class HealthRow
{
    [JsonPropertyName("worker")] public required string Worker { get; init; }
    [JsonPropertyName("target")] public required string Target { get; init; }
    [JsonPropertyName("running")] public bool Running { get; init; }
    [JsonPropertyName("started_at")] public DateTimeOffset? StartedAt { get; init; }
    [JsonPropertyName("last_success_at")] public DateTimeOffset? LastSuccessAt { get; init; }
    [JsonPropertyName("last_error_at")] public DateTimeOffset? LastErrorAt { get; init; }
    [JsonPropertyName("last_error")] public string? LastError { get; init; }
    [JsonPropertyName("consecutive_errors")] public int ConsecutiveErrors { get; init; }
    [JsonPropertyName("processed")] public long Processed { get; init; }
    [JsonPropertyName("retried")] public long Retried { get; init; }
    [JsonPropertyName("failed")] public long Failed { get; init; }
    [JsonPropertyName("queue_depth")] public long? QueueDepth { get; init; }
    [JsonPropertyName("failed_depth")] public long? FailedDepth { get; init; }
    [JsonPropertyName("queue_checked_at")] public DateTimeOffset? QueueCheckedAt { get; init; }
    [JsonPropertyName("counters")] public IReadOnlyDictionary<string, long>? Counters { get; init; }
}

[JsonSerializable(typeof(List<HealthRow>))]
internal sealed partial class HealthJsonContext : JsonSerializerContext;
