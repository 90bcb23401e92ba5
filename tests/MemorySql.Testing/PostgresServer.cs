using MemorySql.Runtime;
using MemorySql.Schema;
using Npgsql;

namespace MemorySql.Testing;

/// <summary>
/// One real PostgreSQL + pgvector cluster per test process, started in a temporary folder on a free port,
/// with a migrated template database that each test class copies (CREATE DATABASE … TEMPLATE).
/// </summary>
public sealed class PostgresServer
{
    public const string TemplateDatabase = "memorysql_template";

    /// <summary>Roles that are members of this group authenticate with md5 over TCP (store their password with password_encryption = md5).</summary>
    public const string Md5LoginGroup = "memorysql_md5_logins";

    /// <summary>Roles that are members of this group authenticate with a cleartext password over TCP.</summary>
    public const string PasswordLoginGroup = "memorysql_password_logins";

    private static readonly Lazy<Task<PostgresServer>> Shared = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int _databaseCounter;
    private readonly SemaphoreSlim _createLock = new(1, 1);

    private PostgresServer(EmbeddedCluster cluster, PostgresBinaries binaries)
    {
        Cluster = cluster;
        Binaries = binaries;
    }

    public EmbeddedCluster Cluster { get; }
    public PostgresBinaries Binaries { get; }
    public int Port => Cluster.Options.Port;
    public string AdminUser => Cluster.Options.AdminUser;
    public string AdminPassword => Cluster.Options.AdminPassword;

    /// <summary>The cluster of this test process, started on first use.</summary>
    public static Task<PostgresServer> GetAsync() => Shared.Value;

    public string AdminConnectionString(string database = "postgres") => Cluster.AdminConnectionString(database) + ";Pooling=false";

    /// <summary>A new database with the whole memory schema, named after the caller for readable logs.</summary>
    public async Task<string> CreateDatabaseAsync(string hint)
    {
        var safe = new string(hint.ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '_').ToArray());
        if (safe.Length > 40) safe = safe[..40];
        var name = $"t{Interlocked.Increment(ref _databaseCounter)}_{safe}";
        // CREATE DATABASE … TEMPLATE fails while anyone else copies the same template; take turns.
        await _createLock.WaitAsync();
        try
        {
            await using var conn = new NpgsqlConnection(AdminConnectionString());
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE {TemplateDatabase}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        finally
        {
            _createLock.Release();
        }
        // Database-level settings (the search_path that makes the short names work) are not copied from a template.
        await using (var conn = new NpgsqlConnection(AdminConnectionString(name)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT memory.ensure_search_path()", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        return name;
    }

    /// <summary>A connection string for any role of this cluster (TCP, password authentication).</summary>
    public string ConnectionString(string user, string password, string database) =>
        $"Host=127.0.0.1;Port={Port};Username={user};Password={password};Database={database}";

    public async Task DropRoleAsync(string role)
    {
        await using var conn = new NpgsqlConnection(AdminConnectionString());
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP ROLE IF EXISTS \"{role}\"", conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task DropDatabaseAsync(string name)
    {
        await using var conn = new NpgsqlConnection(AdminConnectionString());
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<PostgresServer> StartAsync()
    {
        var binaries = PostgresBinaries.Locate();
        var dataDir = Path.Combine(Path.GetTempPath(), "memorysql-test-" + Guid.NewGuid().ToString("N")[..12]);
        var cluster = new EmbeddedCluster(binaries, new EmbeddedClusterOptions
        {
            DataDir = dataDir,
            Port = EmbeddedCluster.FreePort(),
            AdminPassword = "admin-" + Guid.NewGuid().ToString("N"),
            Durable = false,
            ExtraSettings = ["max_connections = 300", "log_min_messages = warning", "log_min_error_statement = panic"],
            // Members of these group roles log in with md5 or cleartext passwords (auth tests create them);
            // everyone else uses SCRAM.
            ExtraHbaLines =
            [
                $"host all +{Md5LoginGroup} 127.0.0.1/32 md5",
                $"host all +{PasswordLoginGroup} 127.0.0.1/32 password",
            ],
        });
        cluster.Initialize();
        cluster.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAndDelete(cluster, dataDir);

        var server = new PostgresServer(cluster, binaries);
        await using (var conn = new NpgsqlConnection(server.AdminConnectionString()))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {TemplateDatabase}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        await new Migrator().MigrateAsync(server.AdminConnectionString(TemplateDatabase), null, CancellationToken.None);
        NpgsqlConnection.ClearAllPools();
        return server;
    }

    private static void StopAndDelete(EmbeddedCluster cluster, string dataDir)
    {
        try
        {
            cluster.Stop(immediate: true);
            Directory.Delete(dataDir, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
