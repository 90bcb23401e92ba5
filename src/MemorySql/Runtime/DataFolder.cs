using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MemorySql.Runtime;

/// <summary>
/// What `memorysql up` keeps in its data folder: the PostgreSQL cluster (pgdata/) and a state file with
/// the generated passwords and ports (memorysql-state.json, readable by its owner only).
/// </summary>
public sealed class DataFolder
{
    public const string DatabaseName = "memorysql";
    public const string DefaultWorkspace = "memorysql";
    private const string StateFileName = "memorysql-state.json";

    private DataFolder(string path, DataFolderState state)
    {
        Path = path;
        State = state;
    }

    public string Path { get; }
    public DataFolderState State { get; }
    public string ClusterDir => System.IO.Path.Combine(Path, "pgdata");
    public string StateFile => System.IO.Path.Combine(Path, StateFileName);

    /// <summary>The folder `up` uses when none is given: $MEMORYSQL_DATA_DIR, /var/lib/memorysql for root, else ~/.local/share/memorysql.</summary>
    public static string DefaultPath()
    {
        var fromEnv = Environment.GetEnvironmentVariable("MEMORYSQL_DATA_DIR");
        if (!string.IsNullOrWhiteSpace(fromEnv)) return System.IO.Path.GetFullPath(fromEnv);
        // root's home is not readable by the postgres account the server runs as.
        if (ProcessRunner.IsRoot) return "/var/lib/memorysql";
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return System.IO.Path.Combine(string.IsNullOrWhiteSpace(xdg) ? System.IO.Path.Combine(home, ".local", "share") : xdg, "memorysql");
    }

    /// <summary>Opens an existing data folder; explains how to create one when there is none.</summary>
    public static DataFolder Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var stateFile = System.IO.Path.Combine(full, StateFileName);
        if (!File.Exists(stateFile))
            throw new InvalidOperationException($"{full} holds no MemorySql instance yet. Start one with: memorysql up --data-dir {full}");
        var state = JsonSerializer.Deserialize(File.ReadAllText(stateFile), DataFolderJson.Default.DataFolderState)
                    ?? throw new InvalidOperationException($"{stateFile} is empty or damaged; move the folder aside and run memorysql up again.");
        return new DataFolder(full, state);
    }

    /// <summary>Opens the folder, creating its state (passwords, ports) on first use.</summary>
    public static DataFolder OpenOrCreate(string path, int proxyPort)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (File.Exists(System.IO.Path.Combine(full, StateFileName)))
        {
            var existing = Open(full);
            if (existing.State.ProxyPort != proxyPort)
            {
                existing.State.ProxyPort = proxyPort;
                existing.Save();
            }
            return existing;
        }
        Directory.CreateDirectory(full);
        var state = new DataFolderState
        {
            PostgresPort = EmbeddedCluster.FreePort(),
            ProxyPort = proxyPort,
            AdminUser = "memorysql_admin",
            AdminPassword = NewPassword(),
            Workspace = DefaultWorkspace,
            WorkspacePassword = NewPassword(),
        };
        var folder = new DataFolder(full, state);
        folder.Save();
        return folder;
    }

    public void Save()
    {
        var json = JsonSerializer.Serialize(State, DataFolderJson.Default.DataFolderState);
        var temp = StateFile + ".tmp";
        File.WriteAllText(temp, json);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, StateFile, overwrite: true);
    }

    /// <summary>The embedded cluster this folder holds; <paramref name="sharedBuffers"/> is given to PostgreSQL when it starts.</summary>
    public EmbeddedCluster Cluster(PostgresBinaries binaries, string? sharedBuffers = null) => new(binaries, new EmbeddedClusterOptions
    {
        DataDir = ClusterDir,
        Port = State.PostgresPort,
        AdminUser = State.AdminUser,
        AdminPassword = State.AdminPassword,
        SharedBuffers = sharedBuffers,
    });

    public string AdminConnectionString(string database = DatabaseName) =>
        $"Host=127.0.0.1;Port={State.PostgresPort};Username={State.AdminUser};Password={State.AdminPassword};Database={database}";

    /// <summary>The URL a client uses: through the proxy, as the default workspace (or the admin).</summary>
    public string Url(bool admin) => admin
        ? PostgresUrl.Build("127.0.0.1", State.ProxyPort, State.AdminUser, State.AdminPassword, DatabaseName)
        : PostgresUrl.Build("127.0.0.1", State.ProxyPort, State.Workspace, State.WorkspacePassword, DatabaseName);

    private static string NewPassword() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', 'x').Replace('/', 'y');
}

public sealed class DataFolderState
{
    public int PostgresPort { get; set; }
    public int ProxyPort { get; set; }
    public string AdminUser { get; set; } = "";
    public string AdminPassword { get; set; } = "";
    public string Workspace { get; set; } = "";
    public string WorkspacePassword { get; set; } = "";
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(DataFolderState))]
internal sealed partial class DataFolderJson : JsonSerializerContext;
