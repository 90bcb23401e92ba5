namespace MemorySql.Workers.Common;

/// <summary>
/// Exponential backoff with "equal jitter": attempt n waits between half and all of
/// min(max, base · 2ⁿ⁻¹), so many workers retrying the same failure spread out instead of stampeding.
/// </summary>
internal sealed class Backoff
{
    public Backoff(TimeSpan baseDelay, TimeSpan maxDelay)
    {
        if (baseDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(baseDelay), "the base delay cannot be negative");
        if (maxDelay < baseDelay) throw new ArgumentOutOfRangeException(nameof(maxDelay), "the maximum delay must be at least the base delay");
        BaseDelay = baseDelay;
        MaxDelay = maxDelay;
    }

    public TimeSpan BaseDelay { get; }
    public TimeSpan MaxDelay { get; }

    /// <summary>The longest delay attempt <paramref name="attempt"/> (1 = first retry) can get.</summary>
    public TimeSpan Ceiling(int attempt)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 62);
        var seconds = BaseDelay.TotalSeconds * Math.Pow(2, exponent);
        return seconds >= MaxDelay.TotalSeconds ? MaxDelay : TimeSpan.FromSeconds(seconds);
    }

    /// <summary>The delay before attempt <paramref name="attempt"/> (1 = first retry), jittered into [ceiling/2, ceiling].</summary>
    public TimeSpan Delay(int attempt)
    {
        var ceiling = Ceiling(attempt);
#pragma warning disable CA5394 // jitter is not a security decision
        return ceiling / 2 + ceiling / 2 * Random.Shared.NextDouble();
#pragma warning restore CA5394
    }
}
