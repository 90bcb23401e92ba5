namespace MemorySql.Benchmarks;

internal static class EmbedWorkerThroughput
{
    public static Task<int> RunAsync(string[] args) => Task.FromResult(args.Length);
}
