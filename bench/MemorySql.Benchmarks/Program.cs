using BenchmarkDotNet.Running;

namespace MemorySql.Benchmarks;

/// <summary>
/// dotnet run -c Release --project bench/MemorySql.Benchmarks -- &lt;command&gt;
///   embed-throughput [--count N] [--rounds N] [--batch N]        builtin provider, texts/s on one thread
///   embed-worker [--count N] [--runs N] [--connection CS] …       embed worker end to end against PostgreSQL
///   vector-transfer [--batch N] [--iterations N]                  the worker's write statement: binary real[] vs text
///   decay-pass [--count N] [--runs N] [--batch N]                 a decay pass over N memories (memory.archive_decayed)
///   check [--count N] [--runs N] [--concurrency N] [--batch N]    dedup/contradiction checks per second (check worker)
///   recall-latency [--count N] [--queries N] [--runs N] …         recall p50/p95 direct and through the proxy; remember throughput
///   recall-replay --connection CS [--mode M] [--passes N] [--out F] the recall-latency questions again, for exact before/after comparisons
///   ingest [--count N] [--runs N] [--clients N] [--concurrency N] offline ingest end to end: conversations/s and item memories/s
///   (anything else)                                                BenchmarkDotNet, e.g. --filter '*Builtin*'
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var command = args.Length > 0 ? args[0] : "";
        var rest = args.Length > 0 ? args[1..] : args;
        switch (command)
        {
            case "embed-throughput":
                return EmbedThroughput.Run(rest);
            case "embed-worker":
                return await EmbedWorkerThroughput.RunAsync(rest);
            case "vector-transfer":
                return await VectorTransferBenchmark.RunAsync(rest);
            case "decay-pass":
                return await LifecycleBenchmarks.DecayAsync(rest);
            case "check":
                return await LifecycleBenchmarks.CheckAsync(rest);
            case "recall-latency":
                return await RecallLatency.RunAsync(rest);
            case "recall-replay":
                return await RecallReplay.RunAsync(rest);
            case "ingest":
                return await IngestThroughput.RunAsync(rest);
            default:
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
                return 0;
        }
    }
}
