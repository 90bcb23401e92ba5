using System.Text;
using BenchmarkDotNet.Attributes;

namespace MemorySql.Rewrite.Benchmarks;

/// <summary>
/// The byte-level test every Query and Parse payload goes through. The baselines scan the same bytes for a
/// byte that is not there (a vectorised memchr over the whole buffer): the least any one-pass search costs.
/// </summary>
[MemoryDiagnoser]
public class PrefilterBenchmarks
{
    private readonly MemoryCallPrefilter _prefilter = MemoryCallPrefilter.Default;
    private readonly byte[] _pgbenchSelect = Encoding.UTF8.GetBytes(Workload.PgbenchSelect);
    private readonly byte[] _pgbenchUpdate = Encoding.UTF8.GetBytes(Workload.PgbenchUpdate);
    private readonly byte[] _recall = Encoding.UTF8.GetBytes(Workload.RecallQuery);
    private readonly byte[] _longInsert = Encoding.UTF8.GetBytes(Workload.LongInsert);

    [Benchmark(Baseline = true, Description = "memchr baseline: pgbench SELECT (52 B)")]
    public bool ScanPgbenchSelect() => _pgbenchSelect.AsSpan().IndexOf((byte)0) >= 0;

    [Benchmark(Description = "miss: pgbench SELECT (52 B)")]
    public bool MissPgbenchSelect() => _prefilter.MightContainCall(_pgbenchSelect);

    [Benchmark(Description = "miss: pgbench UPDATE (67 B)")]
    public bool MissPgbenchUpdate() => _prefilter.MightContainCall(_pgbenchUpdate);

    [Benchmark(Description = "hit: recall query (113 B)")]
    public bool HitRecall() => _prefilter.MightContainCall(_recall);

    [Benchmark(Description = "memchr baseline: 4 KB INSERT")]
    public bool ScanLongInsert() => _longInsert.AsSpan().IndexOf((byte)0) >= 0;

    [Benchmark(Description = "miss: 4 KB INSERT of prose")]
    public bool MissLongInsert() => _prefilter.MightContainCall(_longInsert);
}
