using System.CommandLine;
using MemorySql.Runtime;

namespace MemorySql.Cli;

/// <summary>Options several commands share, so they are spelled and described the same everywhere.</summary>
internal static class CommonOptions
{
    public static Option<string> DataDir() => new("--data-dir", "-d")
    {
        Description = "The data folder of the embedded instance (default: $MEMORYSQL_DATA_DIR, /var/lib/memorysql for root, else ~/.local/share/memorysql).",
        DefaultValueFactory = _ => DataFolder.DefaultPath(),
    };

    public static Option<string?> Upstream(bool required) => new("--upstream", "-u")
    {
        Description = "An existing PostgreSQL with pgvector, as a postgresql:// URL or a key=value connection string (its user is used for migrations and workers).",
        Required = required,
    };

    public static Option<int> Port(int defaultPort = 6432) => new("--port", "-p")
    {
        Description = $"The port the proxy listens on (default {defaultPort}).",
        DefaultValueFactory = _ => defaultPort,
    };

    public static Option<string> Listen() => new("--listen")
    {
        Description = "The address the proxy listens on (default 127.0.0.1; 0.0.0.0 for every interface).",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    public static Option<string?> Config() => new("--config", "-c")
    {
        Description = "A JSON configuration file (default: memorysql.json in the current folder, if present).",
    };
}
