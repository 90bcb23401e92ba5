using System.Text;
using BenchmarkDotNet.Attributes;

namespace MemorySql.Rewrite.Benchmarks;

/// <summary>The byte-level test every Query and Parse payload goes through.</summary>
[MemoryDiagnoser]
public class PrefilterBenchmarks
{
    private readonly MemoryCallPrefilter _prefilter = MemoryCallPrefilter.Default;
    private readonly byte[] _pgbenchSelect = Encoding.UTF8.GetBytes(Workload.PgbenchSelect);
    private readonly byte[] _pgbenchUpdate = Encoding.UTF8.GetBytes(Workload.PgbenchUpdate);
    private readonly byte[] _recall = Encoding.UTF8.GetBytes(Workload.RecallQuery);
    private readonly byte[] _longInsert = Encoding.UTF8.GetBytes(Workload.LongInsert);

    [Benchmark(Baseline = true, Description = "miss: pgbench SELECT (52 B)")]
    public bool MissPgbenchSelect() => _prefilter.MightContainCall(_pgbenchSelect);

    [Benchmark(Description = "miss: pgbench UPDATE (67 B)")]
    public bool MissPgbenchUpdate() => _prefilter.MightContainCall(_pgbenchUpdate);

    [Benchmark(Description = "miss: 4 KB INSERT of prose")]
    public bool MissLongInsert() => _prefilter.MightContainCall(_longInsert);

    [Benchmark(Description = "hit: recall query")]
    public bool HitRecall() => _prefilter.MightContainCall(_recall);
}
