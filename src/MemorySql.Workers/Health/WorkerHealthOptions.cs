using System.Globalization;

namespace MemorySql.Workers.Health;

/// <summary>Settings of the worker health writer (configuration section <c>Workers:Health</c>).</summary>
public sealed class WorkerHealthOptions
{
    public const string SectionName = "Workers:Health";

    /// <summary>False to keep worker health in this process only (no rows in memory.worker_health).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often this process writes its workers' health; a row not refreshed for three periods counts as lost.</summary>
    public double IntervalSeconds { get; set; } = 15;

    /// <summary>The name of this process in memory.worker_health; default "&lt;machine&gt;:&lt;process id&gt;".</summary>
    public string? Instance { get; set; }

    /// <summary>Rows of instances not heard from for this many days are deleted.</summary>
    public double RetentionDays { get; set; } = 7;

    /// <summary>The instance name in use: <see cref="Instance"/>, or machine name and process id.</summary>
    public string ResolvedInstance => Instance is { Length: > 0 } name
        ? name
        : string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}:{Environment.ProcessId}");

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        if (!(IntervalSeconds >= 0.05 && IntervalSeconds <= 3600))
            errors.Add(string.Create(inv, $"{SectionName}:IntervalSeconds must be between 0.05 and 3600 (got {IntervalSeconds})"));
        if (Instance is { Length: > 200 })
            errors.Add($"{SectionName}:Instance must be at most 200 characters");
        if (!(RetentionDays > 0))
            errors.Add(string.Create(inv, $"{SectionName}:RetentionDays must be above 0 (got {RetentionDays})"));
        return errors;
    }
}
