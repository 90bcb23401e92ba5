using System.Globalization;

namespace MemorySql.Workers.Reflection;

/// <summary>Settings of the reflection worker (configuration section <c>Workers:Reflection</c>).</summary>
public sealed class ReflectionWorkerOptions
{
    public const string SectionName = "Workers:Reflection";

    /// <summary>False to run no reflection worker in this process.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Use the LLM when one is configured and the workspace's policy and budget allow; false: extractive summaries only.</summary>
    public bool UseLlm { get; set; } = true;

    /// <summary>How often the worker looks for groups with new or changed members.</summary>
    public double IntervalSeconds { get; set; } = 30;

    /// <summary>A group is summarised only once its latest change is this old, so a burst of memories makes one summary, not one each.</summary>
    public double DebounceSeconds { get; set; } = 10;

    /// <summary>Groups summarised at once in this process, each on its own connection.</summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>Attempts per group before it is marked 'failed' (memory.reflection_status).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Delay before a failed group is tried again; doubles per attempt, with jitter.</summary>
    public double RetryBaseSeconds { get; set; } = 60;

    /// <summary>The longest delay between attempts of a group.</summary>
    public double RetryMaxSeconds { get; set; } = 3600;

    /// <summary>The longest summary written, in characters (extractive summaries are cut there; the LLM is asked to stay under it).</summary>
    public int MaxSummaryChars { get; set; } = 2000;

    /// <summary>The most characters of member memories sent to the LLM for one summary.</summary>
    public int MaxInputChars { get; set; } = 12_000;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        void Check(bool ok, string message)
        {
            if (!ok) errors.Add(message);
        }
        Check(IntervalSeconds > 0 && IntervalSeconds <= 86400, string.Create(inv, $"{SectionName}:IntervalSeconds must be above 0 and at most 86400 (got {IntervalSeconds})"));
        Check(DebounceSeconds is >= 0 and <= 86400, string.Create(inv, $"{SectionName}:DebounceSeconds must be between 0 and 86400 (got {DebounceSeconds})"));
        Check(Concurrency is >= 1 and <= 64, string.Create(inv, $"{SectionName}:Concurrency must be between 1 and 64 (got {Concurrency})"));
        Check(MaxAttempts is >= 1 and <= 1000, string.Create(inv, $"{SectionName}:MaxAttempts must be between 1 and 1000 (got {MaxAttempts})"));
        Check(RetryBaseSeconds >= 0, string.Create(inv, $"{SectionName}:RetryBaseSeconds must be 0 or more (got {RetryBaseSeconds})"));
        Check(RetryMaxSeconds >= RetryBaseSeconds, string.Create(inv, $"{SectionName}:RetryMaxSeconds must be at least RetryBaseSeconds (got {RetryMaxSeconds})"));
        Check(MaxSummaryChars is >= 200 and <= 100_000, string.Create(inv, $"{SectionName}:MaxSummaryChars must be between 200 and 100000 (got {MaxSummaryChars})"));
        Check(MaxInputChars is >= 1000 and <= 1_000_000, string.Create(inv, $"{SectionName}:MaxInputChars must be between 1000 and 1000000 (got {MaxInputChars})"));
        return errors;
    }
}
