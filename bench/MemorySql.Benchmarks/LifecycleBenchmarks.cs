using System.Diagnostics;
using System.Globalization;
using MemorySql.Embeddings;
using MemorySql.Schema;
using MemorySql.Workers.Check;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;
using static MemorySql.Benchmarks.BenchSql;

namespace MemorySql.Benchmarks;

/// <summary>
/// The memory life cycle against a real PostgreSQL (a private durable cluster, or --connection; its memory
/// tables are EMPTIED).
///
///   decay-pass [--count N] [--runs N] [--batch N]
///       N memories (created over the last 400 days, mixed importance, access and pins) in 200 entities; times
///       a whole decay pass — the decay worker's statement, memory.archive_decayed, batch after batch, one
///       transaction each — and the cost of the effective-importance formula per row.
///   check [--count N] [--runs N] [--concurrency N] [--batch N]
///       N memories in N/50 entities with their builtin-v1 vectors (HNSW index in place): about 12 % near
///       duplicates and 12 % changed values of earlier facts. Times the check worker (heuristics) from start
///       until the queue is empty; reports checks/s, merges and contradictions.
/// </summary>
internal static class LifecycleBenchmarks
{
    public static async Task<int> DecayAsync(string[] args)
    {
        var count = Options.Int(args, "--count", 100_000);
        var runs = Options.Int(args, "--runs", 3);
        var batch = Options.Int(args, "--batch", 1000);
        return await WithDatabaseAsync(args, async dataSource =>
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decay-pass: {count} memories, {runs} runs, batches of {batch}, {Environment.ProcessorCount} cores"));
            var rates = new List<double>();
            for (var run = 1; run <= runs; run++)
            {
                await ExecuteAsync(dataSource, "TRUNCATE memory.memories, memory.events CASCADE");
                await ExecuteAsync(dataSource, $"""
                    INSERT INTO memory.memories (workspace, entity, content, content_hash, importance, pinned, created_at, valid_from,
                                                 last_accessed_at, access_count)
                    SELECT 'bench', 'person-' || (g % 200), 'decay bench memory ' || g || ' about topic ' || (g % 97),
                           sha256(convert_to('decay ' || g, 'UTF8')),
                           (0.1 + 0.8 * ((g * 7919) % 1000) / 1000.0)::real,
                           g % 20 = 0,
                           now() - make_interval(secs => ((g::bigint * 104729) % 400)::int * 86400 + (g % 86400)),
                           now() - make_interval(secs => ((g::bigint * 104729) % 400)::int * 86400 + (g % 86400)),
                           CASE WHEN g % 10 < 3 THEN now() - make_interval(days => (g * 31) % 100) END,
                           (g * 13) % 21
                      FROM generate_series(1, {count}) g
                    """);
                await ExecuteAsync(dataSource, "VACUUM ANALYZE memory.memories");
                var stopwatch = Stopwatch.StartNew();
                var (scanned, archived, batches) = await PassAsync(dataSource, batch);
                stopwatch.Stop();
                var rate = count / stopwatch.Elapsed.TotalSeconds;
                rates.Add(rate);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: pass over {count} memories in {stopwatch.Elapsed.TotalSeconds:F2} s ({rate:F0} memories/s): {scanned} looked at (unpinned, older than the smallest archive_min_age), {archived} archived, {batches} batches"));
                var again = Stopwatch.StartNew();
                var (scannedAgain, archivedAgain, _) = await PassAsync(dataSource, batch);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"       the next pass (nothing left to archive): {again.Elapsed.TotalSeconds:F2} s, {scannedAgain} looked at, {archivedAgain} archived"));
            }
            rates.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median {rates[rates.Count / 2]:F0} memories/s (min {rates[0]:F0}, max {rates[^1]:F0})"));

            // What the formula costs per row: sum over every row with and without it, same scan.
            await ExecuteAsync(dataSource, "UPDATE memory.memories SET status = 'active'");
            var plain = await TimeScalarAsync(dataSource, "SELECT sum(importance) FROM memory.memories");
            var decayed = await TimeScalarAsync(dataSource, """
                SELECT sum(memory.effective_importance(importance, pinned, access_count, greatest(created_at, last_accessed_at),
                                                       interval '30 days', 0.05::real, 0.2::real, now())) FROM memory.memories
                """);
            var viewed = await TimeScalarAsync(dataSource, "SELECT sum(effective_importance) FROM memory.memories_current");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"sum over {count} rows: importance {plain:F1} ms, effective_importance {decayed:F1} ms (≈{(decayed - plain) * 1e6 / count:F0} ns per row), memories_current {viewed:F1} ms"));
            return 0;
        });
    }

    /// <summary>A whole pass the way the decay worker runs it: memory.archive_decayed batch after batch, each its own transaction.</summary>
    private static async Task<(long Scanned, long Archived, long Batches)> PassAsync(NpgsqlDataSource dataSource, int batch)
    {
        long scanned = 0, archived = 0, batches = 0;
        DateTime? after = null;
        Guid? afterId = null;
        while (true)
        {
            await using var command = dataSource.CreateCommand("SELECT scanned, archived, last_created, last_id FROM memory.archive_decayed($1, $2, $3)");
            command.Parameters.Add(new NpgsqlParameter { Value = batch });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)after ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)afterId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            if (reader.GetInt32(0) == 0) return (scanned, archived, batches);
            batches++;
            scanned += reader.GetInt32(0);
            archived += reader.GetInt32(1);
            after = reader.GetDateTime(2);
            afterId = reader.GetGuid(3);
        }
    }

    public static async Task<int> CheckAsync(string[] args)
    {
        var count = Options.Int(args, "--count", 20_000);
        var runs = Options.Int(args, "--runs", 3);
        var concurrency = Options.Int(args, "--concurrency", 1);
        var batch = Options.Int(args, "--batch", 64);
        return await WithDatabaseAsync(args, async dataSource =>
        {
            var (contents, entities) = CheckCorpus(count);
            var embedder = new BuiltinEmbeddingProvider();
            var vectors = new float[count * embedder.Dimension];
            for (var i = 0; i < count; i++) embedder.Embed(contents[i]).CopyTo(vectors, i * embedder.Dimension);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"check: {count} memories in {entities.Distinct().Count()} entities, {runs} runs, concurrency {concurrency}, batches of {batch}, heuristics, {Environment.ProcessorCount} cores"));
            var rates = new List<double>();
            for (var run = 1; run <= runs; run++)
            {
                await ExecuteAsync(dataSource, "TRUNCATE memory.memories, memory.events, memory.check_queue CASCADE");
                var loadClock = Stopwatch.StartNew();
                await LoadAsync(dataSource, contents, entities, vectors, embedder.Dimension);
                loadClock.Stop();
                await ExecuteAsync(dataSource, "VACUUM ANALYZE memory.memories, memory.embeddings, memory.check_queue");
                var queued = await ScalarAsync(dataSource, "SELECT count(*) FROM memory.check_queue");

                using var worker = new CheckWorker(dataSource, new CheckWorkerOptions { BatchSize = batch, Concurrency = concurrency, UseLlm = false, PollIntervalSeconds = 1 },
                    NullLogger<CheckWorker>.Instance);
                var stopwatch = Stopwatch.StartNew();
                await worker.StartAsync(CancellationToken.None);
                while (await ScalarAsync(dataSource, "SELECT count(*) FROM memory.check_queue WHERE state = 'queued'") > 0)
                {
                    if (stopwatch.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException("the check worker did not finish within 30 minutes");
                    await Task.Delay(20);
                }
                stopwatch.Stop();
                await worker.StopAsync(CancellationToken.None);
                var rate = queued / stopwatch.Elapsed.TotalSeconds;
                rates.Add(rate);
                var counters = worker.Health.Snapshot().Counters;
                var left = await ScalarAsync(dataSource, "SELECT count(*) FROM memory.check_queue");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: {queued} checks in {stopwatch.Elapsed.TotalSeconds:F2} s ({rate:F0} checks/s); merged {counters.GetValueOrDefault("merged")}, superseded {counters.GetValueOrDefault("superseded")}, opened {counters.GetValueOrDefault("contradictions_opened")}, replans {counters.GetValueOrDefault("replans")}, failed {left}; loading took {loadClock.Elapsed.TotalSeconds:F1} s"));
            }
            rates.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median {rates[rates.Count / 2]:F0} checks/s (min {rates[0]:F0}, max {rates[^1]:F0})"));
            return 0;
        });
    }

    /// <summary>Facts about people, with near duplicates (the same fact reworded by case and punctuation) and changed values.</summary>
    private static (string[] Contents, string[] Entities) CheckCorpus(int count)
    {
        string[] cities = ["Lisbon", "Porto", "Berlin", "Oslo", "Lyon", "Nice", "Madrid", "Rome"];
        string[] seats = ["window", "aisle", "middle"];
        string[] companies = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"];
        string[] foods = ["sushi", "ramen", "tapas", "curry", "pizza", "falafel"];
        string[] hobbies = ["tennis", "chess", "climbing", "jazz piano", "sailing", "pottery"];
        var random = new Random(7);
        var contents = new List<string>(count);
        var entities = new List<string>(count);
        var seen = new HashSet<(string, string)>();
        var perEntity = new Dictionary<string, List<string>>();
        var people = Math.Max(1, count / 50);
        while (contents.Count < count)
        {
            var person = $"Person{random.Next(people)}";
            var previous = perEntity.TryGetValue(person, out var list) ? list : perEntity[person] = [];
            string text;
            var roll = random.Next(100);
            if (roll < 12 && previous.Count > 0)
            {
                var original = previous[random.Next(previous.Count)];   // a near duplicate
                text = random.Next(2) == 0 ? original.ToLowerInvariant() + "." : original + "!";
            }
            else
            {
                text = random.Next(6) switch
                {
                    0 => $"{person} lives in {cities[random.Next(cities.Length)]}",
                    1 => $"{person} prefers {seats[random.Next(seats.Length)]} seats on long flights",
                    2 => $"{person} works at {companies[random.Next(companies.Length)]}",
                    3 => $"{person} likes {foods[random.Next(foods.Length)]} for lunch",
                    4 => $"{person} has {random.Next(1, 5)} kids",
                    _ => $"{person} plays {hobbies[random.Next(hobbies.Length)]} on {(random.Next(2) == 0 ? "Mondays" : "weekends")} note {random.Next(1000)}",
                };
            }
            if (!seen.Add((person, text))) continue;
            previous.Add(text);
            contents.Add(text);
            entities.Add(person);
        }
        return ([.. contents], [.. entities]);
    }

    private static async Task LoadAsync(NpgsqlDataSource dataSource, string[] contents, string[] entities, float[] vectors, int dimension)
    {
        const int chunk = 5000;
        for (var offset = 0; offset < contents.Length; offset += chunk)
        {
            var n = Math.Min(chunk, contents.Length - offset);
            var ids = new Guid[n];
            for (var i = 0; i < n; i++) ids[i] = Guid.CreateVersion7();
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using (var insert = new NpgsqlCommand("""
                INSERT INTO memory.memories (id, workspace, entity, content, content_hash)
                SELECT u.id, 'bench', u.entity, u.content, memory.content_hash(u.content) FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, entity, content)
                """, connection))
            {
                insert.Parameters.Add(new NpgsqlParameter { Value = ids });
                insert.Parameters.Add(new NpgsqlParameter { Value = entities.AsSpan(offset, n).ToArray() });
                insert.Parameters.Add(new NpgsqlParameter { Value = contents.AsSpan(offset, n).ToArray() });
                await insert.ExecuteNonQueryAsync();
            }
            await using (var embed = new NpgsqlCommand("""
                INSERT INTO memory.embeddings (memory_id, model, workspace, embedding)
                SELECT p.ids[i], 'builtin-v1', 'bench', p.vectors[(i - 1) * $3 + 1 : i * $3]::vector
                  FROM (SELECT $1::uuid[] AS ids, $2::real[] AS vectors) p, generate_subscripts($1::uuid[], 1) AS i
                """, connection))
            {
                embed.Parameters.Add(new NpgsqlParameter { Value = ids });
                embed.Parameters.Add(new NpgsqlParameter { Value = vectors.AsSpan(offset * dimension, n * dimension).ToArray() });
                embed.Parameters.Add(new NpgsqlParameter { Value = dimension });
                await embed.ExecuteNonQueryAsync();
            }
            await transaction.CommitAsync();
        }
    }

    private static async Task<int> WithDatabaseAsync(string[] args, Func<NpgsqlDataSource, Task<int>> body)
    {
        var connection = Options.String(args, "--connection");
        using var database = BenchDatabase.Open(connection, Console.WriteLine);
        connection = database.ConnectionString;
        await new Migrator().MigrateAsync(connection, Console.WriteLine, CancellationToken.None);
        // No command timeout: loading 20,000 vectors into a table with an HNSW index can take longer than 30 s here.
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connection) { CommandTimeout = 0 }.ConnectionString);
        await ExecuteAsync(dataSource, "SELECT memory.register_model('builtin-v1', 384, true)");
        return await body(dataSource);
    }

    /// <summary>Median of five runs of a query, in milliseconds.</summary>
    private static async Task<double> TimeScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        var times = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            await using var command = dataSource.CreateCommand(sql);
            var stopwatch = Stopwatch.StartNew();
            await command.ExecuteScalarAsync();
            times.Add(stopwatch.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[2];
    }
}
