using MemorySql.Runtime;

namespace MemorySql.Benchmarks;

/// <summary>
/// The PostgreSQL a benchmark runs against: the one --connection names, or else a private durable cluster in a
/// temporary folder, started here and, on dispose, stopped at once and removed.
/// </summary>
internal sealed class BenchDatabase : IDisposable
{
    private readonly EmbeddedCluster? _cluster;
    private readonly string? _dataDir;

    private BenchDatabase(string connectionString, EmbeddedCluster? cluster, string? dataDir)
    {
        ConnectionString = connectionString;
        _cluster = cluster;
        _dataDir = dataDir;
    }

    /// <summary>The admin connection string: --connection's, or the private cluster's.</summary>
    public string ConnectionString { get; }

    /// <summary>Uses <paramref name="connection"/> when given; else starts a private cluster, telling <paramref name="progress"/> how it goes.</summary>
    public static BenchDatabase Open(string? connection, Action<string>? progress)
    {
        if (connection is not null) return new BenchDatabase(connection, null, null);
        var dataDir = Path.Combine(Path.GetTempPath(), "memorysql-bench-" + Guid.NewGuid().ToString("N")[..12]);
        var cluster = new EmbeddedCluster(PostgresBinaries.Locate(), new EmbeddedClusterOptions
        {
            DataDir = dataDir,
            Port = EmbeddedCluster.FreePort(),
            AdminPassword = "bench-" + Guid.NewGuid().ToString("N"),
            Durable = true,
        });
        var database = new BenchDatabase(cluster.AdminConnectionString(), cluster, dataDir);
        try
        {
            cluster.Initialize(progress);
            cluster.Start(progress);
            return database;
        }
        catch
        {
            database.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_cluster is null) return;
        _cluster.Stop(immediate: true);
        try
        {
            Directory.Delete(_dataDir!, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
