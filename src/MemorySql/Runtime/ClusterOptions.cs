using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace MemorySql.Runtime;

/// <summary>
/// How `memorysql up` tunes its private PostgreSQL cluster (configuration section <c>Cluster</c>), applied at
/// every start, so a changed value takes effect on the next `up`.
/// </summary>
public sealed partial class ClusterOptions
{
    public const string SectionName = "Cluster";
    public const string Auto = "auto";

    /// <summary>The floor and ceiling of the automatic size: PostgreSQL's default, and enough for a few million vectors' HNSW index hot set.</summary>
    private const long MinAutoBytes = 128L << 20;
    private const long MaxAutoBytes = 2L << 30;

    /// <summary>
    /// PostgreSQL's shared_buffers: <c>auto</c> (a quarter of the memory available to this process, at least 128 MB,
    /// at most 2 GB) or a size PostgreSQL understands, e.g. <c>512MB</c> or <c>4GB</c>.
    /// </summary>
    public string SharedBuffers { get; set; } = Auto;

    [GeneratedRegex("^[0-9]{1,9}(kB|MB|GB|TB)$")]
    private static partial Regex SizePattern();

    public static ClusterOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new ClusterOptions();
        configuration.GetSection(SectionName).Bind(options);
        return options;
    }

    /// <summary>Every problem, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!string.Equals(SharedBuffers, Auto, StringComparison.OrdinalIgnoreCase) && !SizePattern().IsMatch(SharedBuffers ?? ""))
            errors.Add($"Cluster:SharedBuffers must be auto or a size with its unit, e.g. 512MB or 2GB (got '{SharedBuffers}')");
        return errors;
    }

    /// <summary>The shared_buffers value to start PostgreSQL with.</summary>
    public string ResolveSharedBuffers() => ResolveSharedBuffers(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);

    /// <summary>The shared_buffers value for a machine (or container) with <paramref name="availableBytes"/> of memory.</summary>
    public string ResolveSharedBuffers(long availableBytes)
    {
        var errors = Validate();
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));
        if (!string.Equals(SharedBuffers, Auto, StringComparison.OrdinalIgnoreCase)) return SharedBuffers;
        var mb = Math.Clamp(availableBytes / 4, MinAutoBytes, MaxAutoBytes) >> 20;
        // Written as SHOW shared_buffers prints it: the largest unit that divides it.
        return mb % 1024 == 0 ? (mb / 1024).ToString(CultureInfo.InvariantCulture) + "GB" : mb.ToString(CultureInfo.InvariantCulture) + "MB";
    }
}
