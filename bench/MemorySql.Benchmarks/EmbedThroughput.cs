using System.Diagnostics;
using System.Globalization;
using MemorySql.Embeddings;

namespace MemorySql.Benchmarks;

/// <summary>
/// `embed-throughput`: the builtin provider on one thread, texts per second over several timed rounds
/// (median reported). A plain loop, no BenchmarkDotNet, so it answers "how many per second" in seconds.
/// </summary>
internal static class EmbedThroughput
{
    public static int Run(string[] args)
    {
        var count = Options.Int(args, "--count", 100_000);
        var rounds = Options.Int(args, "--rounds", 7);
        var batch = Options.Int(args, "--batch", 256);
        var dimension = Options.Int(args, "--dimension", BuiltinEmbeddingProvider.DefaultDimension);
        var texts = SampleTexts.Create(count);
        var model = Options.String(args, "--model") ?? BuiltinEmbeddingProvider.DefaultModel;
        var spec = MemorySql.Embeddings.Builtin.BuiltinModels.Find(model)
                   ?? throw new ArgumentException($"--model: {model} is not a builtin model");
        var provider = new BuiltinEmbeddingProvider(spec, dimension);
        var averageWords = texts.Average(t => t.Split(' ').Length);

        // Warm up: tiered JIT and PGO settle on the hot path.
        Embed(provider, texts.AsSpan(0, Math.Min(count, 20_000)).ToArray(), batch);

        // Wall-clock rate, and the rate per CPU-second of this process: on a shared machine the second one
        // is what one core can do, the first one what this core got.
        var rates = new List<double>();
        var cpuRates = new List<double>();
        using var process = Process.GetCurrentProcess();
        for (var r = 0; r < rounds; r++)
        {
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            var stopwatch = Stopwatch.StartNew();
            Embed(provider, texts, batch);
            stopwatch.Stop();
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpuBefore;
            var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            var rate = count / stopwatch.Elapsed.TotalSeconds;
            var cpuRate = count / cpu.TotalSeconds;
            rates.Add(rate);
            cpuRates.Add(cpuRate);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {r + 1}: {rate,10:F0} texts/s wall, {cpuRate,10:F0} texts per CPU-second ({stopwatch.Elapsed.TotalMilliseconds:F0} ms, {allocated / (double)count:F0} B allocated per text)"));
        }
        rates.Sort();
        cpuRates.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"builtin {provider.Model}, {count} texts of {averageWords:F1} words, batches of {batch}, one thread: median {rates[rates.Count / 2]:F0} texts/s wall (min {rates[0]:F0}, max {rates[^1]:F0}), median {cpuRates[cpuRates.Count / 2]:F0} texts per CPU-second"));
        return 0;
    }

    private static void Embed(BuiltinEmbeddingProvider provider, string[] texts, int batch)
    {
        for (var offset = 0; offset < texts.Length; offset += batch)
        {
            var slice = new ArraySegment<string>(texts, offset, Math.Min(batch, texts.Length - offset));
            var pending = provider.EmbedAsync(slice, CancellationToken.None);
            // The builtin provider completes synchronously; anything else would be a bug worth a crash here.
            if (!pending.IsCompletedSuccessfully) throw new InvalidOperationException("the builtin provider is expected to complete synchronously");
            _ = pending.Result;
        }
    }
}
