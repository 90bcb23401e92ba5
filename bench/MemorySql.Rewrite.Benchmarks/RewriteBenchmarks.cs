using BenchmarkDotNet.Attributes;

namespace MemorySql.Rewrite.Benchmarks;

/// <summary>What a prefilter hit costs: planning (once per statement text, then cached) and rendering (per execution).</summary>
[MemoryDiagnoser]
public class RewriteBenchmarks
{
    private readonly SqlRewriter _rewriter = SqlRewriter.Default;
    private readonly string[] _vectors = [Workload.Vector384];
    private readonly string[] _noVectors = [];
    private RewritePlan _recallPlan = null!;
    private RewritePlan _preparedPlan = null!;

    [GlobalSetup]
    public void Setup()
    {
        _recallPlan = _rewriter.Plan(Workload.RecallQuery)!;
        _preparedPlan = _rewriter.Plan(Workload.RecallPrepared)!;
    }

    [Benchmark(Description = "Plan: recall literal query")]
    public RewritePlan? PlanRecall() => _rewriter.Plan(Workload.RecallQuery);

    [Benchmark(Description = "RenderWithLiterals: 384-d vector")]
    public string RenderLiterals() => _recallPlan.RenderWithLiterals(_vectors, "builtin-v1");

    [Benchmark(Description = "Plan + RenderWithLiterals (uncached)")]
    public string PlanAndRender() => _rewriter.Plan(Workload.RecallQuery)!.RenderWithLiterals(_vectors, "builtin-v1");

    [Benchmark(Description = "Plan: recall($1, …) prepared")]
    public RewritePlan? PlanPrepared() => _rewriter.Plan(Workload.RecallPrepared);

    [Benchmark(Description = "RenderWithParameters: recall($1, …)")]
    public ParameterizedRewrite RenderParameters() => _preparedPlan.RenderWithParameters(_noVectors, "builtin-v1", 4);
}
