using System.Globalization;

namespace MemorySql.Workers.Extraction;

/// <summary>Settings of the extraction worker (configuration section <c>Workers:Extraction</c>).</summary>
public sealed class ExtractionWorkerOptions
{
    public const string SectionName = "Workers:Extraction";

    /// <summary>False to run no extraction worker in this process (another instance does the work).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Use the LLM when one is configured (Llm:Provider) and the workspace's policy and budget allow; false: heuristics only.</summary>
    public bool UseLlm { get; set; } = true;

    /// <summary>Resources claimed per transaction; each is written (or its failure recorded) on its own savepoint.</summary>
    public int BatchSize { get; set; } = 8;

    /// <summary>Batches in flight at once in this process, each on its own connection.</summary>
    public int Concurrency { get; set; } = 2;

    /// <summary>Characters of conversation per LLM call; a longer resource is extracted in several calls.</summary>
    public int MaxChunkChars { get; set; } = 12_000;

    /// <summary>Attempts per resource before it is marked 'failed' (and left for an operator).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Delay before the first retry of a failed resource; doubles per attempt, with jitter.</summary>
    public double RetryBaseSeconds { get; set; } = 30;

    /// <summary>The longest delay between attempts of a resource.</summary>
    public double RetryMaxSeconds { get; set; } = 3600;

    /// <summary>How often an idle worker looks at the queue when no NOTIFY arrives.</summary>
    public double PollIntervalSeconds { get; set; } = 5;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        void Check(bool ok, string message)
        {
            if (!ok) errors.Add(message);
        }
        Check(BatchSize is >= 1 and <= 1000, string.Create(inv, $"{SectionName}:BatchSize must be between 1 and 1000 (got {BatchSize})"));
        Check(Concurrency is >= 1 and <= 64, string.Create(inv, $"{SectionName}:Concurrency must be between 1 and 64 (got {Concurrency})"));
        Check(MaxChunkChars is >= 500 and <= 1_000_000, string.Create(inv, $"{SectionName}:MaxChunkChars must be between 500 and 1000000 (got {MaxChunkChars})"));
        Check(MaxAttempts is >= 1 and <= 1000, string.Create(inv, $"{SectionName}:MaxAttempts must be between 1 and 1000 (got {MaxAttempts})"));
        Check(RetryBaseSeconds >= 0, string.Create(inv, $"{SectionName}:RetryBaseSeconds must be 0 or more (got {RetryBaseSeconds})"));
        Check(RetryMaxSeconds >= RetryBaseSeconds, string.Create(inv, $"{SectionName}:RetryMaxSeconds must be at least RetryBaseSeconds (got {RetryMaxSeconds})"));
        Check(PollIntervalSeconds > 0 && PollIntervalSeconds <= 3600, string.Create(inv, $"{SectionName}:PollIntervalSeconds must be above 0 and at most 3600 (got {PollIntervalSeconds})"));
        return errors;
    }
}
