using System.Globalization;

namespace MemorySql.Runtime;

/// <summary>
/// Where the PostgreSQL server programs (initdb, pg_ctl, postgres, psql) and the extension folder are.
/// Looked up once: an explicit folder, then pg_config on PATH, then the distributions' usual places.
/// </summary>
public sealed record PostgresBinaries(string BinDir, string ShareDir, int MajorVersion)
{
    public const int MinimumMajorVersion = 15;

    public string InitDb => Path.Combine(BinDir, "initdb");
    public string PgCtl => Path.Combine(BinDir, "pg_ctl");
    public string Psql => ExistingOr(Path.Combine(BinDir, "psql"), "psql");
    public string Pgbench => ExistingOr(Path.Combine(BinDir, "pgbench"), "pgbench");
    public string PgIsReady => Path.Combine(BinDir, "pg_isready");

    /// <summary>True when pgvector's control file is installed for this server.</summary>
    public bool HasPgVector => File.Exists(Path.Combine(ShareDir, "extension", "vector.control"));

    /// <summary>Finds the newest usable installation, or explains exactly what is missing.</summary>
    public static PostgresBinaries Locate(string? explicitBinDir = null)
    {
        var candidates = new List<string>();
        if (!string.IsNullOrWhiteSpace(explicitBinDir)) candidates.Add(explicitBinDir);
        var fromEnv = Environment.GetEnvironmentVariable("MEMORYSQL_PG_BIN");
        if (!string.IsNullOrWhiteSpace(fromEnv)) candidates.Add(fromEnv);
        candidates.AddRange(DistributionBinDirs());
        var onPath = FindOnPath("pg_ctl");
        if (onPath is not null) candidates.Add(Path.GetDirectoryName(onPath)!);

        var tried = new List<string>();
        foreach (var dir in candidates.Distinct())
        {
            if (!File.Exists(Path.Combine(dir, "initdb")) || !File.Exists(Path.Combine(dir, "postgres")))
            {
                tried.Add($"{dir} (no initdb/postgres)");
                continue;
            }
            var major = ReadMajorVersion(dir);
            if (major < MinimumMajorVersion)
            {
                tried.Add($"{dir} (PostgreSQL {major}, need {MinimumMajorVersion}+)");
                continue;
            }
            return new PostgresBinaries(dir, ShareDirFor(dir, major), major);
        }
        throw new InvalidOperationException(
            "PostgreSQL server programs (version " + MinimumMajorVersion + " or newer) were not found. " +
            "Run ./memorysql up from the repository (it installs them on Debian/Ubuntu), or install the " +
            "postgresql server package and set MEMORYSQL_PG_BIN to its bin folder." +
            (tried.Count > 0 ? " Tried: " + string.Join("; ", tried) : ""));
    }

    private static IEnumerable<string> DistributionBinDirs()
    {
        // Debian/Ubuntu keep one folder per major version; newest first.
        const string debian = "/usr/lib/postgresql";
        if (Directory.Exists(debian))
        {
            foreach (var dir in Directory.GetDirectories(debian)
                         .Select(d => (dir: d, ok: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v), v))
                         .Where(x => x.ok)
                         .OrderByDescending(x => x.v))
            {
                yield return Path.Combine(dir.dir, "bin");
            }
        }
        // Red Hat family (PGDG packages) and source installs.
        foreach (var dir in Directory.GetDirectories("/usr", "pgsql-*").OrderDescending())
            yield return Path.Combine(dir, "bin");
        yield return "/usr/local/pgsql/bin";
    }

    private static int ReadMajorVersion(string binDir)
    {
        var result = ProcessRunner.Run(Path.Combine(binDir, "postgres"), ["--version"], runAsServiceUser: false);
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        var text = result.StdOut;
        var marker = text.IndexOf(')', StringComparison.Ordinal);
        var version = marker >= 0 ? text[(marker + 1)..].Trim() : text.Trim();
        var digits = new string(version.TakeWhile(char.IsDigit).ToArray());
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : 0;
    }

    private static string ShareDirFor(string binDir, int major)
    {
        var pgConfig = Path.Combine(binDir, "pg_config");
        if (File.Exists(pgConfig))
        {
            var r = ProcessRunner.Run(pgConfig, ["--sharedir"], runAsServiceUser: false);
            if (r.ExitCode == 0 && Directory.Exists(r.StdOut.Trim())) return r.StdOut.Trim();
        }
        var debianShare = $"/usr/share/postgresql/{major}";
        if (Directory.Exists(debianShare)) return debianShare;
        return Path.GetFullPath(Path.Combine(binDir, "..", "share"));
    }

    private static string? FindOnPath(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
    }

    private static string ExistingOr(string path, string fallback) => File.Exists(path) ? path : fallback;
}
