using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/MemorySql.Rewrite.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(MemorySql.Rewrite.Benchmarks.PrefilterBenchmarks).Assembly).Run(args);
