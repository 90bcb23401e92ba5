namespace MemorySql.IntegrationTests.Support;

/// <summary>
/// The external client runtimes the tests drive, located (and prepared once per test run). A runtime that is
/// missing fails the test with the command that installs it: scripts/prerequisites.sh --test installs all of them.
/// </summary>
public static class ClientRuntimes
{
    private const string InstallHint = "run scripts/prerequisites.sh --test as root (./test.sh does), which installs it";

    /// <summary>Debian's python3, which has psycopg 3 (python3-psycopg); a pyenv python3 on PATH usually does not.</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>Debian's PostgreSQL JDBC driver (libpostgresql-jdbc-java).</summary>
    public const string JdbcJar = "/usr/share/java/postgresql.jar";

    private static readonly Lazy<Task<string>> PythonReady = new(CheckPythonAsync);
    private static readonly Lazy<Task<string>> JavaClasses = new(CompileJavaAsync);
    private static readonly Lazy<Task<string>> NodeReady = new(InstallNodeModulesAsync);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string ClientsFolder(string language) => Path.Combine(RepositoryRoot, "tests", "clients", language);

    /// <summary>The python3 that can import psycopg.</summary>
    public static Task<string> PythonAsync() => PythonReady.Value;

    /// <summary>The class path for the JDBC client: the compiled tests/clients/java sources and the driver.</summary>
    public static Task<string> JavaClassPathAsync() => JavaClasses.Value;

    /// <summary>The node executable, with tests/clients/node/node_modules installed from its lock file.</summary>
    public static Task<string> NodeAsync() => NodeReady.Value;

    private static async Task<string> CheckPythonAsync()
    {
        if (!File.Exists(Python)) throw new InvalidOperationException($"{Python} is missing: {InstallHint} (python3-psycopg).");
        var check = await ExternalProcess.RunAsync(Python, ["-c", "import psycopg, sys; print(psycopg.__version__)"]);
        if (check.ExitCode != 0)
            throw new InvalidOperationException($"{Python} cannot import psycopg 3: {InstallHint} (python3-psycopg).\n{check}");
        return Python;
    }

    private static async Task<string> CompileJavaAsync()
    {
        var javac = FindOnPath("javac") ?? throw new InvalidOperationException($"javac is missing: {InstallHint} (default-jdk-headless).");
        if (FindOnPath("java") is null) throw new InvalidOperationException($"java is missing: {InstallHint} (default-jdk-headless).");
        if (!File.Exists(JdbcJar)) throw new InvalidOperationException($"{JdbcJar} is missing: {InstallHint} (libpostgresql-jdbc-java).");
        var output = Path.Combine(Path.GetTempPath(), "memorysql-jdbc-client-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(output);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(output);
        var sources = Directory.GetFiles(ClientsFolder("java"), "*.java");
        var compile = await ExternalProcess.RunAsync(javac, ["-encoding", "UTF-8", "-cp", JdbcJar, "-d", output, .. sources]);
        if (compile.ExitCode != 0) throw new InvalidOperationException("the JDBC client does not compile\n" + compile);
        return output + Path.PathSeparator + JdbcJar;
    }

    private static async Task<string> InstallNodeModulesAsync()
    {
        var node = FindOnPath("node") ?? throw new InvalidOperationException($"node is missing: {InstallHint} (nodejs, npm).");
        var folder = ClientsFolder("node");
        if (Directory.Exists(Path.Combine(folder, "node_modules", "pg"))) return node;
        var npm = FindOnPath("npm") ?? throw new InvalidOperationException($"npm is missing: {InstallHint} (npm).");
        // The versions are pinned by package-lock.json; ./test.sh does the same before the tests start.
        var install = await ExternalProcess.RunAsync(npm, ["ci", "--no-audit", "--no-fund"], workingDirectory: folder, timeout: TimeSpan.FromMinutes(5));
        if (install.ExitCode != 0) throw new InvalidOperationException("npm ci in tests/clients/node failed\n" + install);
        return node;
    }

    private static string? FindOnPath(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MemorySql.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"no MemorySql.sln above {AppContext.BaseDirectory}");
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
