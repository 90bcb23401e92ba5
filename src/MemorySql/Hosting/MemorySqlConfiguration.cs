using Microsoft.Extensions.Configuration;

namespace MemorySql.Hosting;

/// <summary>
/// Configuration in order of precedence (later wins): a JSON file, MEMORYSQL_* environment variables
/// (sections separated by a double underscore: MEMORYSQL_Proxy__Port=6543), then command-line flags.
/// </summary>
internal static class MemorySqlConfiguration
{
    public const string DefaultFileName = "memorysql.json";

    /// <summary>Configuration keys given as --Section:Key=value (or --Section:Key value) on the command line.</summary>
    public static IReadOnlyDictionary<string, string?> CommandLineOverrides { get; set; } = new Dictionary<string, string?>();

    /// <summary>Separates --Section:Key=value configuration flags from the command's own arguments.</summary>
    public static (string[] CommandArgs, Dictionary<string, string?> Overrides) SplitOverrides(string[] args)
    {
        var rest = new List<string>();
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--") { rest.AddRange(args[i..]); break; }
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            var keyPart = eq < 0 ? a : a[..eq];
            if (a.StartsWith("--", StringComparison.Ordinal) && keyPart.Contains(':', StringComparison.Ordinal))
            {
                var key = keyPart[2..];
                if (eq >= 0) overrides[key] = a[(eq + 1)..];
                else if (i + 1 < args.Length) overrides[key] = args[++i];
                else throw new ArgumentException($"{a} needs a value: {a}=<value>");
                continue;
            }
            rest.Add(a);
        }
        return ([.. rest], overrides);
    }

    public static IConfigurationRoot Build(string? configFile, IReadOnlyDictionary<string, string?> commandLine)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            var full = Path.GetFullPath(configFile);
            if (!File.Exists(full)) throw new InvalidOperationException($"configuration file {full} does not exist");
            builder.AddJsonFile(full, optional: false, reloadOnChange: false);
        }
        else
        {
            builder.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), DefaultFileName), optional: true, reloadOnChange: false);
        }
        builder.AddEnvironmentVariables("MEMORYSQL_");
        builder.AddInMemoryCollection(commandLine.Where(kv => kv.Value is not null));
        builder.AddInMemoryCollection(CommandLineOverrides);
        return builder.Build();
    }
}
