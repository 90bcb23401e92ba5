using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MemorySql.Runtime;

/// <summary>How a private PostgreSQL cluster is laid out and tuned.</summary>
public sealed record EmbeddedClusterOptions
{
    /// <summary>The cluster's own folder (PGDATA); created by initdb on first use.</summary>
    public required string DataDir { get; init; }
    public required int Port { get; init; }
    public string AdminUser { get; init; } = "memorysql_admin";
    public required string AdminPassword { get; init; }
    /// <summary>Test clusters trade durability for speed (fsync off, tiny buffers).</summary>
    public bool Durable { get; init; } = true;
    /// <summary>shared_buffers given to PostgreSQL at every start (e.g. "512MB"); null keeps postgresql.conf's.</summary>
    public string? SharedBuffers { get; init; }
    /// <summary>Extra postgresql.conf lines, e.g. "max_connections = 300".</summary>
    public IReadOnlyList<string> ExtraSettings { get; init; } = [];
    /// <summary>Extra pg_hba.conf lines placed before the defaults (tests use them for md5/password roles).</summary>
    public IReadOnlyList<string> ExtraHbaLines { get; init; } = [];
}

/// <summary>
/// A PostgreSQL cluster owned by MemorySql: initdb on first run, pg_ctl start/stop afterwards.
/// Listens on 127.0.0.1 only, with SCRAM for TCP and a Unix socket inside the data folder.
/// </summary>
public sealed class EmbeddedCluster
{
    private readonly PostgresBinaries _binaries;
    private readonly EmbeddedClusterOptions _options;

    public EmbeddedCluster(PostgresBinaries binaries, EmbeddedClusterOptions options)
    {
        _binaries = binaries;
        _options = options;
    }

    public EmbeddedClusterOptions Options => _options;
    public string SocketDir => Path.Combine(_options.DataDir, "run");
    public string LogFile => Path.Combine(_options.DataDir, "postgresql.log");
    public bool IsInitialized => File.Exists(Path.Combine(_options.DataDir, "PG_VERSION"));

    /// <summary>The admin connection string (TCP, SCRAM).</summary>
    public string AdminConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={_options.Port.ToString(CultureInfo.InvariantCulture)};Username={_options.AdminUser};" +
        $"Password={_options.AdminPassword};Database={database}";

    /// <summary>Runs initdb and writes the configuration; does nothing when the cluster exists.</summary>
    public void Initialize(Action<string>? progress = null)
    {
        if (IsInitialized) return;
        if (!_binaries.HasPgVector)
            throw new InvalidOperationException(
                $"pgvector is not installed for PostgreSQL {_binaries.MajorVersion} (no {Path.Combine(_binaries.ShareDir, "extension", "vector.control")}). " +
                "Run ./memorysql up from the repository to build it, or install your distribution's pgvector package.");
        Directory.CreateDirectory(_options.DataDir);
        if (Directory.EnumerateFileSystemEntries(_options.DataDir).Any())
            throw new InvalidOperationException($"{_options.DataDir} is not empty and holds no PostgreSQL cluster; choose an empty folder.");

        progress?.Invoke($"creating a PostgreSQL {_binaries.MajorVersion} cluster in {_options.DataDir}");
        var pwFile = Path.Combine(Path.GetTempPath(), "memorysql-pw-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(pwFile, _options.AdminPassword + "\n");
        try
        {
            ProcessRunner.HandToServiceUser(pwFile);
            ProcessRunner.HandToServiceUser(_options.DataDir);
            var r = ProcessRunner.Run(_binaries.InitDb,
                ["-D", _options.DataDir, "-U", _options.AdminUser, "--pwfile", pwFile, "-E", "UTF8",
                 "--locale", "C.UTF-8", "--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256",
                 ..(_options.Durable ? Array.Empty<string>() : ["--no-sync"])],
                runAsServiceUser: true);
            if (r.ExitCode != 0)
            {
                // C.UTF-8 is missing on some systems; plain C works everywhere.
                r = ProcessRunner.Run(_binaries.InitDb,
                    ["-D", _options.DataDir, "-U", _options.AdminUser, "--pwfile", pwFile, "-E", "UTF8",
                     "--locale", "C", "--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256"],
                    runAsServiceUser: true);
                if (r.ExitCode != 0) throw new InvalidOperationException("initdb failed: " + r.Output);
            }
        }
        finally
        {
            File.Delete(pwFile);
        }
        WriteConfiguration();
    }

    private void WriteConfiguration()
    {
        var conf = new StringBuilder();
        conf.AppendLine();
        conf.AppendLine("# --- written by MemorySql ---");
        conf.AppendLine("listen_addresses = '127.0.0.1'");
        conf.AppendLine(CultureInfo.InvariantCulture, $"port = {_options.Port}");
        conf.AppendLine(CultureInfo.InvariantCulture, $"unix_socket_directories = '{SocketDir}'");
        conf.AppendLine("password_encryption = 'scram-sha-256'");
        conf.AppendLine("max_connections = 200");
        if (!_options.Durable)
        {
            conf.AppendLine("fsync = off");
            conf.AppendLine("synchronous_commit = off");
            conf.AppendLine("full_page_writes = off");
            conf.AppendLine("shared_buffers = 64MB");
        }
        foreach (var line in _options.ExtraSettings) conf.AppendLine(line);
        File.AppendAllText(Path.Combine(_options.DataDir, "postgresql.conf"), conf.ToString());

        var hbaPath = Path.Combine(_options.DataDir, "pg_hba.conf");
        var hba = new StringBuilder("# written by MemorySql\n");
        foreach (var line in _options.ExtraHbaLines) hba.AppendLine(line);
        hba.AppendLine("local all all scram-sha-256");
        hba.AppendLine("host all all 127.0.0.1/32 scram-sha-256");
        File.WriteAllText(hbaPath, hba.ToString());
        Directory.CreateDirectory(SocketDir);
        ProcessRunner.HandToServiceUser(_options.DataDir);
    }

    /// <summary>Starts the server and waits until it accepts connections.</summary>
    public void Start(Action<string>? progress = null)
    {
        progress?.Invoke($"starting PostgreSQL on 127.0.0.1:{_options.Port}");
        if (ProcessRunner.IsRoot && !File.Exists(LogFile))
        {
            File.WriteAllText(LogFile, "");
            ProcessRunner.HandToServiceUser(LogFile);
        }
        // Settings given at start override postgresql.conf, so a new value applies to a cluster made by an older run.
        var serverOptions = $"-p {_options.Port.ToString(CultureInfo.InvariantCulture)}";
        if (_options.SharedBuffers is { } sharedBuffers)
        {
            progress?.Invoke($"shared_buffers = {sharedBuffers}");
            serverOptions += $" -c shared_buffers={sharedBuffers}";
        }
        var r = ProcessRunner.Run(_binaries.PgCtl,
            ["-D", _options.DataDir, "-l", LogFile, "-w", "-t", "120", "-o", serverOptions, "start"],
            runAsServiceUser: true, timeout: TimeSpan.FromMinutes(3));
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"PostgreSQL did not start ({r.Output}). Last lines of {LogFile}:\n{Tail(LogFile, 15)}");
    }

    public bool IsRunning()
    {
        var r = ProcessRunner.Run(_binaries.PgCtl, ["-D", _options.DataDir, "status"], runAsServiceUser: true);
        return r.ExitCode == 0;
    }

    /// <summary>Fast shutdown: active transactions roll back, nothing committed is lost.</summary>
    public void Stop(Action<string>? progress = null, bool immediate = false)
    {
        if (!IsInitialized) return;
        progress?.Invoke("stopping PostgreSQL");
        ProcessRunner.Run(_binaries.PgCtl, ["-D", _options.DataDir, "-m", immediate ? "immediate" : "fast", "-w", "-t", "60", "stop"],
            runAsServiceUser: true, timeout: TimeSpan.FromMinutes(2));
    }

    /// <summary>A TCP port nobody listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Tail(string path, int lines)
    {
        try { return string.Join('\n', File.ReadAllLines(path).TakeLast(lines)); }
        catch (IOException) { return "(no log)"; }
    }
}
