using System.Globalization;

namespace MemorySql.Workers.Decay;

/// <summary>Settings of the decay worker (configuration section <c>Workers:Decay</c>).</summary>
public sealed class DecayWorkerOptions
{
    public const string SectionName = "Workers:Decay";

    /// <summary>False to run no decay worker in this process.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between the end of one decay pass and the start of the next (a NOTIFY memory_decay starts one at once).</summary>
    public double IntervalSeconds { get; set; } = 3600;

    /// <summary>Memories looked at per transaction of a pass.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        if (!(IntervalSeconds is >= 1 and <= 604_800))
            errors.Add(string.Create(inv, $"Workers:Decay:IntervalSeconds must be between 1 and 604800 (got {IntervalSeconds})"));
        if (BatchSize is < 1 or > 100_000)
            errors.Add(string.Create(inv, $"Workers:Decay:BatchSize must be between 1 and 100000 (got {BatchSize})"));
        return errors;
    }
}
