using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MemorySql.Embeddings;

namespace MemorySql.Benchmarks;

/// <summary>
/// The builtin provider (builtin-v1, 384 dimensions) on one thread. Per-text figures: a batch benchmark
/// reports the cost of one text (OperationsPerInvoke), so texts/s = 1 s / Mean.
///   dotnet run -c Release --project bench/MemorySql.Benchmarks -- --filter '*BuiltinEmbedder*'
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessConfig))]
public class BuiltinEmbedderBenchmarks
{
    private const int Batch = 256;
    private readonly BuiltinEmbeddingProvider _provider = new();
    private readonly float[] _destination = new float[BuiltinEmbeddingProvider.DefaultDimension];
    private string[] _short = [];
    private string[] _paragraphs = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _short = SampleTexts.Create(Batch);
        // ~60-word texts: a conversation turn or a short document chunk.
        _paragraphs = Enumerable.Range(0, Batch)
            .Select(i => string.Join(' ', SampleTexts.Create(5, seed: i)))
            .ToArray();
    }

    /// <summary>One ~10-word text into a caller's buffer: the pure feature extraction cost, no allocation.</summary>
    [Benchmark(Baseline = true)]
    public void ShortText_IntoSpan() => _provider.Embed(_short[_next++ & (Batch - 1)], _destination);

    /// <summary>One ~10-word text into a new array (what the proxy does per query).</summary>
    [Benchmark]
    public float[] ShortText_NewArray() => _provider.Embed(_short[_next++ & (Batch - 1)]);

    /// <summary>A batch of 256 ~10-word texts through EmbedAsync (what the embed worker does), per text.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public float[][] ShortText_Batch256()
    {
        var pending = _provider.EmbedAsync(_short, CancellationToken.None);
        // The builtin provider completes synchronously.
        return pending.IsCompletedSuccessfully ? pending.Result : throw new InvalidOperationException("expected a synchronous result");
    }

    /// <summary>One ~60-word paragraph into a caller's buffer.</summary>
    [Benchmark]
    public void Paragraph_IntoSpan() => _provider.Embed(_paragraphs[_next++ & (Batch - 1)], _destination);

    private sealed class InProcessConfig : ManualConfig
    {
        public InProcessConfig()
        {
            // In-process: no generated project to build (the repository's strict build settings would apply to it).
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(15));
        }
    }
}
