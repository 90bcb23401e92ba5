using System.Diagnostics;
using System.Globalization;
using System.Text;
using MemorySql.Embeddings;
using MemorySql.Proxy;
using MemorySql.Runtime;
using MemorySql.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Benchmarks;

/// <summary>
/// recall() latency at a given number of memories, direct to PostgreSQL and through the MemorySql proxy,
/// hybrid (the proxy embeds the query; direct clients pass the same vector) and lexical
/// (ranking => '{lexical}'), one client, read-write transactions (access hits recorded, and folded into the
/// memories every 5 s as the access worker does), plus
/// remember() throughput through the proxy. Memories are memory-like sentences with speakers (entity)
/// and sessions of 20, embedded with the builtin model; the HNSW index is built after loading.
///
///   recall-latency [--count 100000] [--queries 300] [--runs 3] [--k 10] [--connection CS] [--remember-seconds 10] [--shared-buffers auto|SIZE]
///
/// Default: a private durable cluster in a temporary folder (removed afterwards). With --connection (an
/// admin connection string to a database) a workspace bench_recall_N is loaded once and reused.
/// </summary>
internal static class RecallLatency
{
    private const string Password = "bench-recall";

    public static async Task<int> RunAsync(string[] args)
    {
        var count = Options.Int(args, "--count", 100_000);
        var queries = Options.Int(args, "--queries", 300);
        var runs = Options.Int(args, "--runs", 3);
        var k = Options.Int(args, "--k", 10);
        var rememberSeconds = Options.Int(args, "--remember-seconds", 10);
        var provider = new BuiltinEmbeddingProvider();
        var workspace = $"bench_recall_{count}";

        EmbeddedCluster? cluster = null;
        string? dataDir = null;
        var connectionString = Options.String(args, "--connection");
        if (connectionString is null)
        {
            dataDir = Path.Combine(Path.GetTempPath(), "memorysql-recall-" + Guid.NewGuid().ToString("N")[..12]);
            cluster = new EmbeddedCluster(PostgresBinaries.Locate(), new EmbeddedClusterOptions
            {
                DataDir = dataDir,
                Port = EmbeddedCluster.FreePort(),
                AdminPassword = "bench-" + Guid.NewGuid().ToString("N"),
                Durable = true,
                // What memorysql up gives PostgreSQL (Cluster:SharedBuffers, auto by default); --shared-buffers 128MB compares with PostgreSQL's default.
                SharedBuffers = new ClusterOptions { SharedBuffers = Options.String(args, "--shared-buffers") ?? ClusterOptions.Auto }.ResolveSharedBuffers(),
            });
            cluster.Initialize(Console.WriteLine);
            cluster.Start(Console.WriteLine);
            await using (var admin = new NpgsqlConnection(cluster.AdminConnectionString()))
            {
                await admin.OpenAsync();
                await using var create = new NpgsqlCommand("CREATE DATABASE bench", admin);
                await create.ExecuteNonQueryAsync();
            }
            connectionString = cluster.AdminConnectionString("bench");
        }
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        ProxyServer? proxy = null;
        try
        {
            await new Migrator().MigrateAsync(connectionString, _ => { }, CancellationToken.None);
            await LoadAsync(connectionString, workspace, count, provider);
            await PrewarmAsync(connectionString);

            proxy = new ProxyServer(new ProxyOptions
            {
                Port = 0,
                Upstream = { Host = builder.Host!, Port = builder.Port, TlsMode = UpstreamTlsMode.Disable },
            }, provider, NullLoggerFactory.Instance);
            await proxy.StartAsync(CancellationToken.None);
            var direct = Client(builder, builder.Host!, builder.Port, workspace);
            var proxied = Client(builder, "127.0.0.1", proxy.LocalEndPoint.Port, workspace);
            var texts = Queries(Math.Max(queries, 50));

            // As the access worker of a running instance does: recall's access hits folded into the memories every 5 s.
            using var folding = new CancellationTokenSource();
            var folder = FoldAccessAsync(connectionString, folding.Token);
            Console.WriteLine($"load average before: {LoadAverage()}");
            var results = new Dictionary<string, List<(double P50, double P95, double Cpu)>>();
            Target[] targets =
            [
                new("direct lexical", direct, Hybrid: false, ViaProxy: false), new("direct hybrid", direct, Hybrid: true, ViaProxy: false),
                new("proxy lexical", proxied, Hybrid: false, ViaProxy: true), new("proxy hybrid", proxied, Hybrid: true, ViaProxy: true),
            ];
            for (var run = 0; run < runs; run++)
            {
                // The targets take turns query by query (not 300 queries each in a row): the machine's load and the
                // memories' access statistics change during a run, and a target measured in its own block of time
                // got its own share of that (direct and proxy hybrid differed by 0.5 ms of backend CPU from one run
                // to the next while their backends executed the same instructions per recall).
                var measured = await MeasureInterleavedAsync(targets, run, texts, queries, k, provider);
                foreach (var (target, latencies, cpu) in measured)
                {
                    var p = (Percentile(latencies, 50), Percentile(latencies, 95), cpu);
                    if (!results.TryGetValue(target.Name, out var list)) results[target.Name] = list = [];
                    list.Add(p);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run + 1} {target.Name,-15} p50 {p.Item1,7:0.00} ms  p95 {p.Item2,7:0.00} ms  backend CPU {p.Item3,6:0.00} ms/recall"));
                }
            }
            await folding.CancelAsync();
            Console.WriteLine($"access hits folded: {await folder}");
            var rememberOne = await RememberAsync(proxied, 1, rememberSeconds);
            var rememberFour = await RememberAsync(proxied, 4, rememberSeconds);
            Console.WriteLine($"load average after: {LoadAverage()}");
            Console.WriteLine();
            Console.WriteLine($"| memories | target | k | median p50 (ms) | median p95 (ms) | backend CPU (ms/recall) | runs |");
            Console.WriteLine($"|---:|---|---:|---:|---:|---:|---:|");
            foreach (var (name, list) in results)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {count:N0} | {name} | {k} | {Median(list.Select(x => x.P50)):0.00} | {Median(list.Select(x => x.P95)):0.00} | {Median(list.Select(x => x.Cpu)):0.00} | {list.Count} |"));
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"remember through the proxy ({provider.Model}, HNSW index in place): {rememberOne:0} memories/s with 1 client, {rememberFour:0} with 4 clients"));
            return 0;
        }
        finally
        {
            if (proxy is not null) await proxy.DisposeAsync();
            NpgsqlConnection.ClearAllPools();
            if (cluster is not null)
            {
                cluster.Stop(Console.WriteLine);
                try { Directory.Delete(dataDir!, recursive: true); } catch (IOException) { }
            }
        }
    }

    internal static string Client(NpgsqlConnectionStringBuilder admin, string host, int port, string workspace) => new NpgsqlConnectionStringBuilder
    {
        Host = host,
        Port = port,
        Database = admin.Database,
        Username = workspace,
        Password = Password,
        Pooling = false,
        CommandTimeout = 300,
    }.ConnectionString;

    private static readonly string[] Speakers = ["Dana", "Sam", "Alex", "Maria", "Priya", "Tom"];

    /// <summary>Questions in the words of the stored sentences, some naming a speaker.</summary>
    internal static string[] Queries(int count)
    {
        var random = new Random(7);
        var words = SampleTexts.Create(2000, seed: 99).SelectMany(t => t.Split(' ')).Where(w => w.Length > 3 && !w.StartsWith('(')).Distinct().ToArray();
        return Enumerable.Range(0, count).Select(i =>
            $"what did {Speakers[random.Next(Speakers.Length)]} say about {words[random.Next(words.Length)]} and {words[random.Next(words.Length)]}?").ToArray();
    }

    private static async Task LoadAsync(string adminConnectionString, string workspace, int count, BuiltinEmbeddingProvider provider)
    {
        await using var admin = new NpgsqlConnection(adminConnectionString);
        await admin.OpenAsync();
        await using (var exists = new NpgsqlCommand("SELECT count(*) FROM memory.memories WHERE workspace = $1", admin))
        {
            exists.Parameters.Add(new() { Value = workspace });
            if ((long)(await exists.ExecuteScalarAsync())! >= count)
            {
                Console.WriteLine($"{workspace} already holds {count} memories; reusing it");
                return;
            }
        }
        var watch = Stopwatch.StartNew();
        await Exec(admin, "SELECT memory.drop_workspace($1) FROM memory.workspaces WHERE name = $1", workspace);
        await Exec(admin, "SELECT memory.create_workspace($1, $2)", workspace, Password);
        await Exec(admin, "INSERT INTO memory.models (name, dimension) VALUES ($1, $2) ON CONFLICT DO NOTHING", provider.Model, provider.Dimension);
        var texts = SampleTexts.Create(count);
        var random = new Random(5);
        var start = DateTime.UtcNow.AddDays(-400);
        const int batch = 2000;
        for (var offset = 0; offset < count; offset += batch)
        {
            var n = Math.Min(batch, count - offset);
            var ids = new Guid[n];
            var contents = new string[n];
            var entities = new string[n];
            var sessions = new Guid[n];
            var times = new DateTime[n];
            var vectors = new string[n];
            for (var i = 0; i < n; i++)
            {
                var g = offset + i;
                ids[i] = Guid.CreateVersion7();
                contents[i] = texts[g];
                entities[i] = Speakers[random.Next(Speakers.Length)];
                sessions[i] = new Guid(g / 20 + 1, 0, 0, [0, 0, 0, 0, 0, 0, 0, 1]);
                times[i] = start.AddSeconds(g * 300.0);
                vectors[i] = VectorLiteral(provider.Embed(texts[g]));
            }
            await using var tx = await admin.BeginTransactionAsync();
            await Exec(admin, $"SET LOCAL ROLE {workspace}");
            await using (var insert = new NpgsqlCommand("""
                INSERT INTO memory.memories (id, content, entity, session_id, valid_from, type, kind)
                SELECT u.id, u.content, u.entity, u.session, u.at, 'episodic', 'message'
                  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[]) u(id, content, entity, session, at)
                """, admin))
            {
                insert.Parameters.Add(new() { Value = ids });
                insert.Parameters.Add(new() { Value = contents });
                insert.Parameters.Add(new() { Value = entities });
                insert.Parameters.Add(new() { Value = sessions });
                insert.Parameters.Add(new() { Value = times, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
                await insert.ExecuteNonQueryAsync();
            }
            await Exec(admin, "RESET ROLE");
            await using (var embed = new NpgsqlCommand("""
                INSERT INTO memory.embeddings (memory_id, model, workspace, embedding)
                SELECT u.id, $3, $4, u.v::vector FROM unnest($1::uuid[], $2::text[]) u(id, v)
                """, admin))
            {
                embed.Parameters.Add(new() { Value = ids });
                embed.Parameters.Add(new() { Value = vectors });
                embed.Parameters.Add(new() { Value = provider.Model });
                embed.Parameters.Add(new() { Value = workspace });
                await embed.ExecuteNonQueryAsync();
            }
            // The embed queue rows the inserts created (no vector came with them) are done: drop them.
            await Exec(admin, "DELETE FROM memory.embedding_queue WHERE memory_id = ANY ($1)", ids);
            await tx.CommitAsync();
            if ((offset / batch) % 10 == 9) Console.WriteLine($"  {offset + n} memories ({watch.Elapsed.TotalSeconds:0} s)");
        }
        Console.WriteLine($"loaded {count} memories in {watch.Elapsed.TotalSeconds:0} s; building the HNSW index");
        await Exec(admin, "SET maintenance_work_mem = '1GB'");
        await Exec(admin, "SELECT memory.register_model($1, $2, true)", provider.Model, provider.Dimension);
        await Exec(admin, "VACUUM ANALYZE memory.memories");
        await Exec(admin, "VACUUM ANALYZE memory.embeddings");
        await Exec(admin, "VACUUM ANALYZE memory.lexical_postings");
        Console.WriteLine($"ready after {watch.Elapsed.TotalSeconds:0} s");
    }

    internal static string VectorLiteral(float[] vector)
    {
        var sb = new StringBuilder(vector.Length * 10).Append('[');
        for (var i = 0; i < vector.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(vector[i].ToString("R", CultureInfo.InvariantCulture));
        }
        return sb.Append(']').ToString();
    }

    private static async Task Exec(NpgsqlConnection connection, string sql, params object[] args)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        foreach (var a in args) command.Parameters.Add(new() { Value = a });
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// One client with a connection per target; each question goes to every target in turn (the order rotating
    /// from question to question), so all targets share the same minutes of machine load and the same state of
    /// the memories. The first 10% of the questions warm up and are not counted.
    /// </summary>
    private static async Task<List<(Target Target, List<double> Latencies, double BackendCpuMs)>> MeasureInterleavedAsync(
        Target[] targets, int run, string[] texts, int queries, int k, BuiltinEmbeddingProvider provider)
    {
        var sessions = new List<TargetSession>();
        try
        {
            foreach (var target in targets)
                sessions.Add(await TargetSession.OpenAsync(target.ConnectionString, target.Hybrid, target.ViaProxy, k, provider));
            var warmup = Math.Max(5, queries / 10);
            for (var i = 0; i < queries + warmup; i++)
            {
                if (i == warmup)
                    foreach (var session in sessions) session.StartCounting();
                var text = texts[i % texts.Length];
                for (var t = 0; t < sessions.Count; t++)
                {
                    var session = sessions[(t + i + run) % sessions.Count];
                    var elapsed = await session.RecallAsync(text);
                    if (i >= warmup) session.Latencies.Add(elapsed);
                }
            }
            return targets.Select((target, t) => (target, sessions[t].Latencies, sessions[t].BackendCpuMs(queries))).ToList();
        }
        finally
        {
            foreach (var session in sessions) await session.DisposeAsync();
        }
    }

    /// <summary>What one series of recalls goes to: a connection string (direct or the proxy's) and the call form.</summary>
    private sealed record Target(string Name, string ConnectionString, bool Hybrid, bool ViaProxy);

    /// <summary>One target's connection: its recall statement, latencies, and the CPU time of its PostgreSQL backend.</summary>
    private sealed class TargetSession : IAsyncDisposable
    {
        private readonly NpgsqlConnection _connection;
        private readonly string _sql;
        private readonly bool _hybrid;
        private readonly bool _viaProxy;
        private readonly int _k;
        private readonly BuiltinEmbeddingProvider _provider;
        private readonly int _backendPid;
        private long _cpuBefore;

        private TargetSession(NpgsqlConnection connection, bool hybrid, bool viaProxy, int k, BuiltinEmbeddingProvider provider, int backendPid)
        {
            _connection = connection;
            _hybrid = hybrid;
            _viaProxy = viaProxy;
            _k = k;
            _provider = provider;
            _backendPid = backendPid;
            _sql = (hybrid, viaProxy) switch
            {
                (true, true) => "SELECT id FROM recall($1, k => $2)",
                (true, false) => "SELECT id FROM recall($1, k => $2, _embedding => $3::vector, _model => $4)",
                (false, _) => "SELECT id FROM recall($1, k => $2, ranking => '{lexical}')",
            };
        }

        public List<double> Latencies { get; } = [];

        public static async Task<TargetSession> OpenAsync(string connectionString, bool hybrid, bool viaProxy, int k, BuiltinEmbeddingProvider provider)
        {
            var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            // CPU time of the PostgreSQL backend serving this session (through the proxy too: its upstream backend),
            // from /proc: unlike latency it hardly moves with the load of other work on the machine.
            await using var pidCommand = new NpgsqlCommand("SELECT pg_backend_pid()", connection);
            var pid = (int)(await pidCommand.ExecuteScalarAsync())!;
            return new TargetSession(connection, hybrid, viaProxy, k, provider, pid);
        }

        public void StartCounting() => _cpuBefore = CpuTicks(_backendPid);

        public double BackendCpuMs(int queries) => (CpuTicks(_backendPid) - _cpuBefore) * 1000.0 / ClockTicksPerSecond / queries;

        /// <summary>One recall; returns its latency in milliseconds.</summary>
        public async Task<double> RecallAsync(string text)
        {
            await using var command = new NpgsqlCommand(_sql, _connection);
            command.Parameters.Add(new() { Value = text });
            command.Parameters.Add(new() { Value = _k });
            var watch = Stopwatch.StartNew();
            if (_hybrid && !_viaProxy)
            {
                // A direct client computes the same vector the proxy would add.
                command.Parameters.Add(new() { Value = VectorLiteral(_provider.Embed(text)) });
                command.Parameters.Add(new() { Value = _provider.Model });
            }
            var rows = 0;
            await using (var reader = await command.ExecuteReaderAsync())
                while (await reader.ReadAsync()) rows++;
            var elapsed = watch.Elapsed.TotalMilliseconds;
            if (rows != _k) throw new InvalidOperationException($"recall returned {rows} rows, expected {_k}");
            return elapsed;
        }

        public ValueTask DisposeAsync() => _connection.DisposeAsync();
    }

    private const int ClockTicksPerSecond = 100;   // USER_HZ on Linux

    /// <summary>utime + stime of a process, in clock ticks; 0 where /proc cannot be read (another machine, macOS).</summary>
    private static long CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }

    /// <summary>
    /// Reads the memory schema's tables and indexes into shared_buffers (pg_prewarm), so the runs measure an
    /// instance that has been running, not the first touch of every buffer page (with a shared_buffers larger
    /// than the data, the first pass over it costs page faults a warm instance never pays again).
    /// </summary>
    private static async Task PrewarmAsync(string adminConnectionString)
    {
        await using var admin = new NpgsqlConnection(adminConnectionString);
        await admin.OpenAsync();
        try
        {
            await Exec(admin, "CREATE EXTENSION IF NOT EXISTS pg_prewarm");
        }
        catch (PostgresException e)
        {
            Console.WriteLine($"pg_prewarm is not available ({e.MessageText}): the runs start from a cold buffer cache");
            return;
        }
        var watch = Stopwatch.StartNew();
        await using var prewarm = new NpgsqlCommand(
            "SELECT coalesce(sum(pg_prewarm(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
            "WHERE n.nspname = 'memory' AND c.relkind IN ('r', 'i', 't') AND c.relpersistence <> 't'", admin) { CommandTimeout = 0 };
        var blocks = (long)(await prewarm.ExecuteScalarAsync())!;
        await using var size = new NpgsqlCommand("SELECT current_setting('shared_buffers')", admin);
        var sharedBuffers = await size.ExecuteScalarAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"prewarmed {blocks * 8 / 1024} MB of the memory schema into shared_buffers ({sharedBuffers}) in {watch.Elapsed.TotalSeconds:0.0} s"));
    }

    private static async Task<long> FoldAccessAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        var folded = 0L;
        await using var admin = new NpgsqlConnection(adminConnectionString);
        await admin.OpenAsync(CancellationToken.None);
        await using (var exists = new NpgsqlCommand("SELECT to_regprocedure('memory.fold_access(integer)') IS NOT NULL", admin))
            if (await exists.ExecuteScalarAsync(CancellationToken.None) is not true) return 0;   // a schema older than the access log
        while (!cancellationToken.IsCancellationRequested)
        {
            try { await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken); }
            catch (OperationCanceledException) { break; }
            await using var fold = new NpgsqlCommand("SELECT memory.fold_access()", admin);
            folded += (int)(await fold.ExecuteScalarAsync(CancellationToken.None))!;
        }
        return folded;
    }

    private static async Task<double> RememberAsync(string connectionString, int clients, int seconds)
    {
        var stop = DateTime.UtcNow.AddSeconds(seconds);
        var texts = SampleTexts.Create(50_000, seed: 1234 + clients);
        var total = 0L;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var i = c;
            while (DateTime.UtcNow < stop)
            {
                await using var command = new NpgsqlCommand("CALL remember($1, entity => $2)", connection);
                command.Parameters.Add(new() { Value = texts[i % texts.Length] + $" #{c}-{i}" });
                command.Parameters.Add(new() { Value = Speakers[i % Speakers.Length] });
                await command.ExecuteNonQueryAsync();
                Interlocked.Increment(ref total);
                i += clients;
            }
        }));
        return total / watch.Elapsed.TotalSeconds;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        var rank = p / 100 * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
