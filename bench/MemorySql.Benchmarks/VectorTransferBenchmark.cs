using System.Diagnostics;
using System.Globalization;
using MemorySql.Embeddings;
using MemorySql.Schema;
using MemorySql.Workers.Embed;
using Npgsql;

namespace MemorySql.Benchmarks;

/// <summary>
/// `vector-transfer`: the embed worker's write statement alone (upsert of one batch of embeddings plus
/// the dequeue), binary real[] against pgvector text, alternating so both see the same machine load.
/// Each write runs in a transaction that is rolled back, so every iteration inserts the same rows.
///   --batch N (256)  --iterations N (200)  --connection CS (default: a private cluster)
/// </summary>
internal static class VectorTransferBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var batch = Options.Int(args, "--batch", 256);
        var iterations = Options.Int(args, "--iterations", 200);
        var connection = Options.String(args, "--connection");
        using var database = BenchDatabase.Open(connection, progress: null);
        connection = database.ConnectionString;
        await new Migrator().MigrateAsync(connection, null, CancellationToken.None);
        await using var dataSource = NpgsqlDataSource.Create(connection);
        var provider = new BuiltinEmbeddingProvider();
        var texts = SampleTexts.Create(batch);
        var vectors = await provider.EmbedAsync(texts, CancellationToken.None);
        var rows = await InsertMemoriesAsync(dataSource, texts, provider.Model);

        var stores = new Dictionary<VectorTransfer, EmbedStore>
        {
            [VectorTransfer.Binary] = new(provider.Model, provider.Dimension, VectorTransfer.Binary),
            [VectorTransfer.Text] = new(provider.Model, provider.Dimension, VectorTransfer.Text),
        };
        var times = stores.Keys.ToDictionary(k => k, _ => new List<double>());
        var ids = rows.Select(r => r.Id).ToList();
        await using var conn = await dataSource.OpenConnectionAsync();
        for (var i = 0; i < iterations + 10; i++)
        {
            foreach (var (transfer, store) in stores)
            {
                await using var tx = await conn.BeginTransactionAsync();
                var started = Stopwatch.GetTimestamp();
                await store.WriteMemoriesAsync(conn, rows, vectors, ids, CancellationToken.None);
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                await tx.RollbackAsync();
                if (i >= 10) times[transfer].Add(elapsed); // the first ten warm up plans and caches
            }
        }
        foreach (var (transfer, list) in times)
        {
            list.Sort();
            var median = list[list.Count / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{transfer,-6}: median {median:F2} ms per batch of {batch} ({batch / median * 1000:F0} vectors/s), p10 {list[list.Count / 10]:F2} ms, p90 {list[list.Count * 9 / 10]:F2} ms"));
        }
        return 0;
    }

    private static async Task<List<ClaimedMemory>> InsertMemoriesAsync(NpgsqlDataSource dataSource, string[] texts, string model)
    {
        await using (var register = dataSource.CreateCommand("INSERT INTO memory.models (name, dimension) VALUES ($1, 384) ON CONFLICT DO NOTHING"))
        {
            register.Parameters.Add(new NpgsqlParameter { Value = model });
            await register.ExecuteNonQueryAsync();
        }
        await using var insert = dataSource.CreateCommand("""
            INSERT INTO memory.memories (workspace, content, content_hash)
            SELECT 'bench', t, sha256(convert_to(t, 'UTF8')) FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n
            RETURNING id, content
            """);
        insert.Parameters.Add(new NpgsqlParameter { Value = texts });
        var rows = new List<ClaimedMemory>();
        await using var reader = await insert.ExecuteReaderAsync();
        while (await reader.ReadAsync()) rows.Add(new ClaimedMemory(reader.GetGuid(0), 0, "bench", reader.GetString(1), false));
        var order = texts.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        rows.Sort((a, b) => order[a.Content].CompareTo(order[b.Content]));
        return rows;
    }
}
