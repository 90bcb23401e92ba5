using System.Globalization;

namespace MemorySql.Workers.Check;

/// <summary>Settings of the check worker: near-duplicate merging and contradiction checks (configuration section <c>Workers:Check</c>).</summary>
public sealed class CheckWorkerOptions
{
    public const string SectionName = "Workers:Check";

    /// <summary>False to run no check worker in this process (another instance does the work).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Queue rows leased per batch; each is judged outside any transaction and applied in its own short one.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>Batches in flight at once in this process.</summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>Neighbours each memory is compared with (the nearest by cosine similarity, same entity and layer).</summary>
    public int Candidates { get; set; } = 5;

    /// <summary>How long a lease lasts: a worker that dies holding rows delays them by at most this long.</summary>
    public double LeaseSeconds { get; set; } = 300;

    /// <summary>Attempts per row before it is marked 'failed' (database errors; LLM failures count separately).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Delay before a failed row is tried again; doubles per attempt, with jitter.</summary>
    public double RetryBaseSeconds { get; set; } = 5;

    /// <summary>The longest delay between attempts of a row.</summary>
    public double RetryMaxSeconds { get; set; } = 600;

    /// <summary>How often an idle worker looks at the queue when no NOTIFY arrives.</summary>
    public double PollIntervalSeconds { get; set; } = 5;

    /// <summary>Judge contradictions with the configured LLM when there is one (false: heuristics only).</summary>
    public bool UseLlm { get; set; } = true;

    /// <summary>Transient LLM failures (timeouts, 429, 5xx) a row may meet, each retried later, before the heuristics decide instead.</summary>
    public int LlmMaxAttempts { get; set; } = 3;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok) errors.Add(message);
        }
        var inv = CultureInfo.InvariantCulture;
        Check(BatchSize is >= 1 and <= 1000, string.Create(inv, $"Workers:Check:BatchSize must be between 1 and 1000 (got {BatchSize})"));
        Check(Concurrency is >= 1 and <= 16, string.Create(inv, $"Workers:Check:Concurrency must be between 1 and 16 (got {Concurrency})"));
        Check(Candidates is >= 1 and <= 50, string.Create(inv, $"Workers:Check:Candidates must be between 1 and 50 (got {Candidates})"));
        Check(LeaseSeconds is >= 1 and <= 86_400, string.Create(inv, $"Workers:Check:LeaseSeconds must be between 1 and 86400 (got {LeaseSeconds})"));
        Check(MaxAttempts is >= 1 and <= 1000, string.Create(inv, $"Workers:Check:MaxAttempts must be between 1 and 1000 (got {MaxAttempts})"));
        Check(RetryBaseSeconds >= 0, string.Create(inv, $"Workers:Check:RetryBaseSeconds must be 0 or more (got {RetryBaseSeconds})"));
        Check(RetryMaxSeconds >= RetryBaseSeconds, string.Create(inv, $"Workers:Check:RetryMaxSeconds must be at least RetryBaseSeconds (got {RetryMaxSeconds})"));
        Check(PollIntervalSeconds > 0 && PollIntervalSeconds <= 3600, string.Create(inv, $"Workers:Check:PollIntervalSeconds must be above 0 and at most 3600 (got {PollIntervalSeconds})"));
        Check(LlmMaxAttempts is >= 1 and <= 100, string.Create(inv, $"Workers:Check:LlmMaxAttempts must be between 1 and 100 (got {LlmMaxAttempts})"));
        return errors;
    }
}
