using System.Diagnostics;
using System.Globalization;
using MemorySql.Embeddings;
using MemorySql.Schema;
using MemorySql.Workers.Embed;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.Benchmarks;

/// <summary>
/// `embed-worker`: the embed worker end to end against a real PostgreSQL, with the builtin provider.
/// Each run empties the memory tables, starts a worker, commits --count queued memories in one
/// transaction with a NOTIFY, and times until the worker reports them all embedded (then checks the
/// database agrees). Prints memories/s per run and the median.
///
///   --count N            memories per run (default 100000)
///   --runs N             runs (default 3); the median is reported
///   --batch N            Workers:Embed:BatchSize (default 256)
///   --concurrency N      Workers:Embed:Concurrency (default 2)
///   --transfer binary|text   Workers:Embed:VectorTransfer (default binary)
///   --index              create the model's HNSW index first (what memory.register_model does per the contract)
///   --index-after        after each run, time building that HNSW index over the embedded rows (CREATE INDEX)
///   --maintenance-work-mem V   maintenance_work_mem for that build, e.g. 1GB (default: the server's)
///   --connection CS      use this database (admin role; it is migrated, and its memory tables EMPTIED);
///                        default: a private durable cluster started with EmbeddedCluster in a temp folder
/// </summary>
internal static class EmbedWorkerThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = Options.Int(args, "--count", 100_000);
        var runs = Options.Int(args, "--runs", 3);
        var batch = Options.Int(args, "--batch", 256);
        var concurrency = Options.Int(args, "--concurrency", 2);
        var transfer = Enum.Parse<VectorTransfer>(Options.String(args, "--transfer") ?? "binary", ignoreCase: true);
        var index = Options.Flag(args, "--index");
        var indexAfter = Options.Flag(args, "--index-after");
        var maintenanceWorkMem = Options.String(args, "--maintenance-work-mem");
        var connection = Options.String(args, "--connection");

        using var database = BenchDatabase.Open(connection, Console.WriteLine);
        connection = database.ConnectionString;
        await using var dataSource = NpgsqlDataSource.Create(connection);
        await PrepareAsync(dataSource, connection);
        var texts = SampleTexts.Create(count);
        var provider = new BuiltinEmbeddingProvider(MemorySql.Embeddings.Builtin.BuiltinModels.V1, BuiltinEmbeddingProvider.DefaultDimension); // the model this benchmark registers and indexes
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"embed-worker: {count} memories/run, {runs} runs, batch {batch}, concurrency {concurrency}, transfer {transfer}, HNSW index {(index ? "yes" : "no")}, {Environment.ProcessorCount} cores"));

        var rates = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            var rate = await RunOnceAsync(dataSource, provider, texts, index, new EmbedWorkerOptions
            {
                BatchSize = batch, Concurrency = concurrency, VectorTransfer = transfer, PollIntervalSeconds = 1, MakeDefault = true,
            });
            rates.Add(rate);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run}: {rate,8:F0} memories/s"));
            if (indexAfter) await TimeIndexBuildAsync(dataSource, count, maintenanceWorkMem);
        }
        rates.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median {rates[rates.Count / 2]:F0} memories/s (min {rates[0]:F0}, max {rates[^1]:F0})"));
        return 0;
    }

    private static async Task<double> RunOnceAsync(NpgsqlDataSource dataSource, BuiltinEmbeddingProvider provider, string[] texts, bool index, EmbedWorkerOptions options)
    {
        await using (var clear = dataSource.CreateCommand("TRUNCATE memory.embedding_queue, memory.embeddings, memory.memories CASCADE"))
            await clear.ExecuteNonQueryAsync();
        await using (var vacuum = dataSource.CreateCommand("VACUUM ANALYZE memory.embedding_queue, memory.embeddings, memory.memories"))
            await vacuum.ExecuteNonQueryAsync();

        using var worker = new EmbedWorker(dataSource, provider, options, NullLogger<EmbedWorker>.Instance);
        await worker.StartAsync(CancellationToken.None);
        await worker.Ready;
        // After the worker registered its model: the SQL API's register_model creates the HNSW index itself.
        await SetIndexAsync(dataSource, index);

        // The memories arrive the way remember() delivers them: rows + queue rows + NOTIFY, committed together.
        await using (var conn = await dataSource.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            for (var offset = 0; offset < texts.Length; offset += 20_000)
            {
                await using var insert = new NpgsqlCommand("""
                    WITH m AS (
                      INSERT INTO memory.memories (workspace, content, content_hash)
                      SELECT 'bench', t, sha256(convert_to(t, 'UTF8')) FROM unnest($1::text[]) AS t
                      RETURNING id, workspace)
                    INSERT INTO memory.embedding_queue (memory_id, model, workspace) SELECT id, $2, workspace FROM m
                    """, conn);
                insert.Parameters.Add(new NpgsqlParameter { Value = texts.AsSpan(offset, Math.Min(20_000, texts.Length - offset)).ToArray() });
                insert.Parameters.Add(new NpgsqlParameter { Value = provider.Model });
                await insert.ExecuteNonQueryAsync();
            }
            await using var notify = new NpgsqlCommand("SELECT pg_notify('memory_embed', $1)", conn);
            notify.Parameters.Add(new NpgsqlParameter { Value = provider.Model });
            await notify.ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }
        var stopwatch = Stopwatch.StartNew();
        while (worker.Health.Snapshot().Processed < texts.Length)
        {
            if (stopwatch.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException("the worker did not finish within 30 minutes");
            await Task.Delay(5);
        }
        stopwatch.Stop();
        await worker.StopAsync(CancellationToken.None);

        await using var check = dataSource.CreateCommand("SELECT (SELECT count(*) FROM memory.embeddings), (SELECT count(*) FROM memory.embedding_queue)");
        await using var reader = await check.ExecuteReaderAsync();
        await reader.ReadAsync();
        if (reader.GetInt64(0) != texts.Length || reader.GetInt64(1) != 0)
            throw new InvalidOperationException($"expected {texts.Length} embeddings and an empty queue, found {reader.GetInt64(0)} and {reader.GetInt64(1)}");
        return texts.Length / stopwatch.Elapsed.TotalSeconds;
    }

    /// <summary>Makes the model's HNSW index exist (one of them) or not exist (none), whoever created it.</summary>
    private static async Task SetIndexAsync(NpgsqlDataSource dataSource, bool wanted)
    {
        var existing = new List<string>();
        await using (var find = dataSource.CreateCommand("""
            SELECT indexname FROM pg_indexes
            WHERE schemaname = 'memory' AND tablename = 'embeddings' AND indexdef ILIKE '%USING hnsw%' AND indexdef LIKE '%builtin-v1%'
            """))
        await using (var reader = await find.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) existing.Add(reader.GetString(0));
        }
        if (wanted)
        {
            if (existing.Count > 0) return;
            await using var create = dataSource.CreateCommand(IndexSql);
            await create.ExecuteNonQueryAsync();
            return;
        }
        foreach (var name in existing)
        {
            await using var drop = dataSource.CreateCommand($"DROP INDEX memory.\"{name}\"");
            await drop.ExecuteNonQueryAsync();
        }
    }

    private static async Task TimeIndexBuildAsync(NpgsqlDataSource dataSource, int count, string? maintenanceWorkMem)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        if (maintenanceWorkMem is not null)
        {
            await using var set = new NpgsqlCommand("SELECT set_config('maintenance_work_mem', $1, false)", connection);
            set.Parameters.Add(new NpgsqlParameter { Value = maintenanceWorkMem });
            await set.ExecuteNonQueryAsync();
        }
        await SetIndexAsync(dataSource, wanted: false);
        var stopwatch = Stopwatch.StartNew();
        await using (var create = new NpgsqlCommand(IndexSql, connection))
        {
            create.CommandTimeout = 0;
            await create.ExecuteNonQueryAsync();
        }
        stopwatch.Stop();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"       HNSW index built afterwards in {stopwatch.Elapsed.TotalSeconds:F1} s ({count / stopwatch.Elapsed.TotalSeconds:F0} vectors/s)"));
        await using var dropAgain = new NpgsqlCommand("DROP INDEX memory.embeddings_builtin_v1_hnsw", connection);
        await dropAgain.ExecuteNonQueryAsync();
    }

    private const string IndexSql = """
        CREATE INDEX IF NOT EXISTS embeddings_builtin_v1_hnsw ON memory.embeddings
        USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE model = 'builtin-v1'
        """;

    private static async Task PrepareAsync(NpgsqlDataSource dataSource, string connectionString)
    {
        await new Migrator().MigrateAsync(connectionString, Console.WriteLine, CancellationToken.None);
        await using (var exists = dataSource.CreateCommand("SELECT to_regprocedure('memory.register_model(text,integer,boolean)') IS NOT NULL"))
        {
            if (!(bool)(await exists.ExecuteScalarAsync())!)
            {
                // Until the SQL API's memory.register_model is merged: the documented contract, minimally.
                await using var create = dataSource.CreateCommand("""
                    CREATE FUNCTION memory.register_model(p_name text, p_dimension integer, p_make_default boolean DEFAULT false)
                    RETURNS void LANGUAGE plpgsql AS $$
                    BEGIN
                      INSERT INTO memory.models (name, dimension) VALUES (p_name, p_dimension) ON CONFLICT (name) DO NOTHING;
                      IF p_make_default THEN
                        UPDATE memory.models SET is_default = (name = p_name) WHERE is_default OR name = p_name;
                      END IF;
                    END $$
                    """);
                await create.ExecuteNonQueryAsync();
            }
        }
        await using (var register = dataSource.CreateCommand("SELECT memory.register_model('builtin-v1', 384, true)"))
            await register.ExecuteNonQueryAsync();
    }
}
