using System.Globalization;

namespace MemorySql.Workers.Access;

/// <summary>Settings of the access worker (configuration section <c>Workers:Access</c>).</summary>
public sealed class AccessWorkerOptions
{
    public const string SectionName = "Workers:Access";

    /// <summary>False to run no access worker in this process (another instance folds the hits).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between folds once the access log is empty: how stale access_count may be.</summary>
    public double IntervalSeconds { get; set; } = 5;

    /// <summary>Access hits folded per transaction.</summary>
    public int BatchSize { get; set; } = 100_000;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        if (!(IntervalSeconds is >= 0.1 and <= 3600))
            errors.Add(string.Create(inv, $"Workers:Access:IntervalSeconds must be between 0.1 and 3600 (got {IntervalSeconds})"));
        if (BatchSize is < 1 or > 1_000_000)
            errors.Add(string.Create(inv, $"Workers:Access:BatchSize must be between 1 and 1000000 (got {BatchSize})"));
        return errors;
    }
}
