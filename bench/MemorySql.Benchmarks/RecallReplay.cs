using System.Globalization;
using System.Text;
using MemorySql.Embeddings;
using Npgsql;

namespace MemorySql.Benchmarks;

/// <summary>
/// The recall-latency benchmark's questions, asked again on one connection of the workspace that benchmark loaded
/// (run recall-latency --connection CS --count N first), in the benchmark's direct call forms: for exact
/// before/after comparisons of a change to recall, with recall's definitions swapped in between.
///
///   recall-replay --connection CS [--count 10000] [--queries 300] [--k 10] [--mode hybrid|lexical]
///                 [--warmup 0] [--passes 1] [--out FILE]
///
/// --out writes every row recall returns, one line each (mode, question, rank, id, score and its components):
/// two captures compared with diff show whether the rankings moved. The transactions are read-only (recall
/// records no access hits), so replays leave the memories as they found them. Under callgrind, the cost of a
/// warm recall is the difference between a replay of --passes 2 and one of --passes 1, over --queries
/// (docs/benchmarks.md, how instructions per recall are measured).
/// </summary>
internal static class RecallReplay
{
    public static async Task<int> RunAsync(string[] args)
    {
        var admin = Options.String(args, "--connection")
                    ?? throw new ArgumentException("--connection <admin connection string> is required: the database recall-latency loaded");
        var count = Options.Int(args, "--count", 10_000);
        var queries = Options.Int(args, "--queries", 300);
        var k = Options.Int(args, "--k", 10);
        var mode = Options.String(args, "--mode") ?? "hybrid";
        var warmup = Options.Int(args, "--warmup", 0);
        var passes = Options.Int(args, "--passes", 1);
        var outPath = Options.String(args, "--out");
        if (mode is not ("hybrid" or "lexical")) throw new ArgumentException($"--mode {mode}: use hybrid or lexical");

        var provider = new BuiltinEmbeddingProvider();
        var builder = new NpgsqlConnectionStringBuilder(admin);
        var texts = RecallLatency.Queries(queries);
        var vectors = texts.Select(t => RecallLatency.VectorLiteral(provider.Embed(t))).ToArray();
        var sql = (mode == "hybrid"
                      ? "SELECT * FROM recall($1, k => $2, _embedding => $3::vector, _model => $4)"
                      : "SELECT * FROM recall($1, k => $2, ranking => '{lexical}')");

        await using var connection = new NpgsqlConnection(
            RecallLatency.Client(builder, builder.Host!, builder.Port, $"bench_recall_{count}") + ";Options=-c default_transaction_read_only=on");
        await connection.OpenAsync();
        await using (var pid = new NpgsqlCommand("SELECT pg_backend_pid()", connection))
            Console.WriteLine($"backend pid {await pid.ExecuteScalarAsync()}");
        var lines = new StringBuilder();
        var rows = 0L;
        // Warm-up questions first (from the end of the list, so every counted question is asked as often), then the passes.
        var order = Enumerable.Range(0, warmup).Select(i => queries - 1 - i % queries)
            .Concat(Enumerable.Range(0, passes).SelectMany(_ => Enumerable.Range(0, queries)));
        var asked = 0;
        foreach (var q in order)
        {
            // Only the first pass is written: the warm-up and further passes ask the same questions again.
            var write = outPath is not null && asked >= warmup && asked < warmup + queries;
            asked++;
            await using var command = new NpgsqlCommand(sql, connection);
            command.Parameters.Add(new() { Value = texts[q] });
            command.Parameters.Add(new() { Value = k });
            if (mode == "hybrid")
            {
                command.Parameters.Add(new() { Value = vectors[q] });
                command.Parameters.Add(new() { Value = provider.Model });
            }
            await using var reader = await command.ExecuteReaderAsync();
            var rank = 0;
            while (await reader.ReadAsync())
            {
                rank++;
                rows++;
                if (!write) continue;
                lines.Append(CultureInfo.InvariantCulture, $"{mode}\t{q}\t{rank}\t{reader["id"]}");
                foreach (var column in new[] { "score", "similarity", "lexical", "bm25", "importance", "recency", "context", "entity_match" })
                    lines.Append('\t').Append(reader[column] is float f ? f.ToString("R", CultureInfo.InvariantCulture) : "NULL");
                lines.Append('\t').AppendJoin(',', (string[])reader["signals"]).Append('\n');
            }
        }
        if (outPath is not null) await File.WriteAllTextAsync(outPath, lines.ToString());
        Console.WriteLine($"{mode}: {warmup} warm-up and {passes} × {queries} recalls, {rows} rows{(outPath is null ? "" : " written to " + outPath)}");
        return 0;
    }
}
