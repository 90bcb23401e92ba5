using Npgsql;
using MemorySql.Schema;

namespace MemorySql.Runtime;

/// <summary>
/// The embedded default behind `memorysql up`: a private PostgreSQL cluster in a data folder, created on
/// first run (initdb, generated passwords, pgvector, migrations, the default workspace), started on every
/// run and stopped when the instance is disposed.
/// </summary>
public sealed class LocalInstance : IAsyncDisposable
{
    private readonly FileStream _lock;
    private readonly bool _startedPostgres;

    private LocalInstance(DataFolder folder, EmbeddedCluster cluster, FileStream @lock, bool startedPostgres)
    {
        Folder = folder;
        Cluster = cluster;
        _lock = @lock;
        _startedPostgres = startedPostgres;
    }

    public DataFolder Folder { get; }
    public EmbeddedCluster Cluster { get; }

    /// <summary>
    /// Where the proxy reaches this cluster: the directory of its Unix-domain socket (the proxy runs on the same
    /// host, and a local socket skips the TCP stack on every round trip), or 127.0.0.1 when the cluster has no
    /// socket there (a data folder moved since initdb wrote the socket directory into postgresql.conf).
    /// </summary>
    public string UpstreamHost
    {
        get
        {
            var directory = Path.GetFullPath(Cluster.SocketDir);
            return File.Exists(Path.Combine(directory, $".s.PGSQL.{Folder.State.PostgresPort}")) ? directory : "127.0.0.1";
        }
    }

    public static async Task<LocalInstance> StartAsync(string dataDir, int proxyPort, Action<string> progress, CancellationToken cancellationToken,
        ClusterOptions? clusterOptions = null)
    {
        var sharedBuffers = (clusterOptions ?? new ClusterOptions()).ResolveSharedBuffers();
        var binaries = PostgresBinaries.Locate();
        // Lock first: a second `up` on the same folder must not touch its state (ports, passwords).
        var @lock = TakeLock(Path.GetFullPath(dataDir));
        try
        {
            var folder = DataFolder.OpenOrCreate(dataDir, proxyPort);
            var cluster = folder.Cluster(binaries, sharedBuffers);
            cluster.Initialize(progress);
            var started = false;
            if (cluster.IsRunning())
            {
                progress("PostgreSQL is already running for this data folder; using it");
            }
            else
            {
                cluster.Start(progress);
                started = true;
            }
            var instance = new LocalInstance(folder, cluster, @lock, started);
            try
            {
                await instance.PrepareDatabaseAsync(progress, cancellationToken);
            }
            catch
            {
                // Leave nothing running behind a failed start.
                if (started) cluster.Stop(progress);
                throw;
            }
            return instance;
        }
        catch
        {
            await @lock.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates the database, applies migrations and makes sure the default workspace role exists.</summary>
    private async Task PrepareDatabaseAsync(Action<string> progress, CancellationToken cancellationToken)
    {
        await using (var admin = new NpgsqlConnection(Folder.AdminConnectionString("postgres")))
        {
            await admin.OpenAsync(cancellationToken);
            await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", admin);
            exists.Parameters.Add(new() { Value = DataFolder.DatabaseName });
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                progress($"creating database {DataFolder.DatabaseName}");
                await using var create = new NpgsqlCommand($"CREATE DATABASE {DataFolder.DatabaseName}", admin);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        await new Migrator().MigrateAsync(Folder.AdminConnectionString(), progress, cancellationToken);
        // A new workspace gets its schema from create_workspace; one created by an older version has none, so its
        // URL could create no table.
        if (!await Workspaces.EnsureAsync(Folder.AdminConnectionString(), Folder.State.Workspace, Folder.State.WorkspacePassword, progress, cancellationToken))
            await Workspaces.EnsureSchemaAsync(Folder.AdminConnectionString(), Folder.State.Workspace, progress, cancellationToken);
    }

    private static FileStream TakeLock(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        var path = System.IO.Path.Combine(dataDir, "up.lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new InvalidOperationException(
                $"another memorysql up is already running from {dataDir}. Use it (memorysql url prints its address), or stop it first.");
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_startedPostgres) Cluster.Stop();
        return _lock.DisposeAsync();
    }
}
