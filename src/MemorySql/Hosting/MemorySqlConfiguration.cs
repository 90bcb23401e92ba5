using Microsoft.Extensions.Configuration;

namespace MemorySql.Hosting;

/// <summary>
/// Configuration in order of precedence (later wins): a JSON file, MEMORYSQL_* environment variables
/// (sections separated by a double underscore: MEMORYSQL_Proxy__Port=6543), then command-line flags.
/// </summary>
internal static class MemorySqlConfiguration
{
    public const string DefaultFileName = "memorysql.json";

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
        return builder.Build();
    }
}
