using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MemorySql.Embeddings;
using MemorySql.Schema;
using MemorySql.Workers.Extraction;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using static MemorySql.Benchmarks.BenchSql;

namespace MemorySql.Benchmarks;

/// <summary>
/// `ingest` offline, end to end, against a real PostgreSQL (a private durable cluster, or --connection; its memory
/// tables are EMPTIED and a workspace role bench_ingest is created or reused).
///
///   ingest [--count N] [--runs N] [--clients N] [--concurrency N] [--batch N] [--connection CS]
///       N conversations (6 messages each: 3 of a person with 2–3 statements, small talk and a question among
///       them, and 3 of the assistant) by N/20 people, ingested with CALL ingest by --clients connections of the
///       workspace while the extraction worker (heuristics: no LLM) runs with --concurrency batches of --batch.
///       The clock runs from the first ingest until the extraction queue is empty. Reports conversations/s and
///       item memories/s end to end, the ingest calls alone, and what the embed queue holds at the end (the
///       memories still wait for their vectors: embedding is the embed worker's job, measured by embed-worker).
/// </summary>
internal static class IngestThroughput
{
    private const string Workspace = "bench_ingest";

    public static async Task<int> RunAsync(string[] args)
    {
        var count = Options.Int(args, "--count", 5_000);
        var runs = Options.Int(args, "--runs", 3);
        var clients = Options.Int(args, "--clients", 4);
        var concurrency = Options.Int(args, "--concurrency", 2);
        var batch = Options.Int(args, "--batch", 8);
        var connection = Options.String(args, "--connection");
        using var database = BenchDatabase.Open(connection, Console.WriteLine);
        connection = database.ConnectionString;
        await new Migrator().MigrateAsync(connection, Console.WriteLine, CancellationToken.None);
        await using var admin = NpgsqlDataSource.Create(connection);
        await ExecuteAsync(admin, $"SELECT memory.register_model('{BuiltinEmbeddingProvider.DefaultModel}', 384, true)");
        var password = "bench-" + Guid.NewGuid().ToString("N");
        await ExecuteAsync(admin, $"SELECT memory.create_workspace('{Workspace}', '{password}') WHERE NOT EXISTS (SELECT FROM memory.workspaces WHERE name = '{Workspace}')");
        await ExecuteAsync(admin, $"ALTER ROLE {Workspace} LOGIN PASSWORD '{password}'");
        var user = new NpgsqlConnectionStringBuilder(connection) { Username = Workspace, Password = password, MaxPoolSize = Math.Max(clients, 1) + 2 };
        await using var workspace = NpgsqlDataSource.Create(user.ConnectionString);

        var conversations = Corpus(count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ingest: {count} conversations of 6 messages by {Math.Max(1, count / 20)} people, {runs} runs, {clients} clients, extraction worker (heuristics) concurrency {concurrency}, batches of {batch}, {Environment.ProcessorCount} cores"));
        var conversationRates = new List<double>();
        var itemRates = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            await ExecuteAsync(admin, "TRUNCATE memory.memories, memory.events, memory.resources, memory.extraction_queue, memory.embedding_queue CASCADE");
            await ExecuteAsync(admin, "VACUUM ANALYZE memory.memories, memory.resources, memory.extraction_queue");
            using var worker = new ExtractionWorker(admin, new ExtractionWorkerOptions { BatchSize = batch, Concurrency = concurrency, UseLlm = false, PollIntervalSeconds = 1 },
                llm: null, usage: null, NullLogger<ExtractionWorker>.Instance);
            await worker.StartAsync(CancellationToken.None);
            await worker.Ready.WaitAsync(TimeSpan.FromMinutes(1));

            var stopwatch = Stopwatch.StartNew();
            await IngestAllAsync(workspace, conversations, clients);
            var ingested = stopwatch.Elapsed;
            while (await ScalarAsync(admin, "SELECT count(*) FROM memory.extraction_queue WHERE state = 'queued'") > 0)
            {
                if (stopwatch.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException("the extraction worker did not finish within 30 minutes");
                await Task.Delay(20);
            }
            stopwatch.Stop();
            await worker.StopAsync(CancellationToken.None);

            var resources = await ScalarAsync(admin, "SELECT count(*) FROM memory.resources");
            var items = await ScalarAsync(admin, "SELECT count(*) FROM memory.memories WHERE source_id IS NOT NULL");
            var failed = await ScalarAsync(admin, "SELECT count(*) FROM memory.extraction_queue");
            var toEmbed = await ScalarAsync(admin, "SELECT count(*) FROM memory.embedding_queue");
            var conflicts = worker.Health.Snapshot().Counters.GetValueOrDefault("write_conflicts");
            var seconds = stopwatch.Elapsed.TotalSeconds;
            conversationRates.Add(resources / seconds);
            itemRates.Add(items / seconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run}: {resources} conversations → {items} item memories in {seconds:F2} s: {resources / seconds:F0} conversations/s, {items / seconds:F0} items/s end to end; the ingest calls alone {ingested.TotalSeconds:F2} s ({resources / ingested.TotalSeconds:F0}/s); left in the extraction queue {failed}; write conflicts retried {conflicts}; waiting for embedding {toEmbed}"));
        }
        conversationRates.Sort();
        itemRates.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median {conversationRates[runs / 2]:F0} conversations/s (min {conversationRates[0]:F0}, max {conversationRates[^1]:F0}), {itemRates[runs / 2]:F0} item memories/s (min {itemRates[0]:F0}, max {itemRates[^1]:F0})"));
        return 0;
    }

    /// <summary>Each client ingests every clients-th conversation, one CALL per conversation, as an agent would after a chat.</summary>
    private static async Task IngestAllAsync(NpgsqlDataSource workspace, string[] conversations, int clients)
    {
        var tasks = Enumerable.Range(0, Math.Max(1, clients)).Select(async client =>
        {
            await using var connection = await workspace.OpenConnectionAsync();
            await using var command = new NpgsqlCommand("CALL ingest($1::jsonb, entity => $2)", connection);
            var messages = command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            var entity = command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            await command.PrepareAsync();
            for (var i = client; i < conversations.Length; i += Math.Max(1, clients))
            {
                messages.Value = conversations[i];
                entity.Value = Person(i, conversations.Length);
                await command.ExecuteNonQueryAsync();
            }
        });
        await Task.WhenAll(tasks);
    }

    private static string Person(int i, int count) => "person" + (i % Math.Max(1, count / 20)).ToString(CultureInfo.InvariantCulture);

    /// <summary>Conversations with what the heuristics keep (first-person statements) and what they drop (small talk, questions, requests).</summary>
    private static string[] Corpus(int count)
    {
        string[] cities = ["Lisbon", "Porto", "Berlin", "Oslo", "Lyon", "Nice", "Madrid", "Rome"];
        string[] seats = ["window", "aisle", "middle"];
        string[] companies = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"];
        string[] foods = ["sushi", "ramen", "tapas", "curry", "pizza", "falafel"];
        string[] hobbies = ["tennis", "chess", "climbing", "sailing", "pottery"];
        string[] days = ["Monday", "Tuesday", "Friday", "the weekend"];
        var random = new Random(11);
        var result = new string[count];
        for (var i = 0; i < count; i++)
        {
            string Pick(string[] values) => values[random.Next(values.Length)];
            var user1 = $"Hi! I live in {Pick(cities)} and I work at {Pick(companies)}. I prefer {Pick(seats)} seats on flights.";
            var user2 = $"Thanks. My favourite food is {Pick(foods)}. Can you find me a table for {random.Next(2, 7)} on {Pick(days)}?";
            var user3 = $"I play {Pick(hobbies)} every week. I went to {Pick(cities)} {random.Next(2, 9)} weeks ago. What time is it there? (ref {i})";
            result[i] = new JsonArray(
                Message("user", user1), Message("assistant", "Nice to meet you! How can I help?"),
                Message("user", user2), Message("assistant", "Sure, I will look for a table."),
                Message("user", user3), Message("assistant", "It is about noon there.")).ToJsonString();
        }
        return result;
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };
}
