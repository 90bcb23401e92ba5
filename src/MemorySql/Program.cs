using System.CommandLine;
using MemorySql.Cli;

namespace MemorySql;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // Before any socket exists: relayed messages continue on the socket thread instead of a pool hop.
        Proxy.ProxyServer.EnableInlineSocketCompletions();
        var root = new RootCommand("MemorySql: long-term memory for AI agents, as SQL, through a PostgreSQL wire-compatible proxy.")
        {
            UpCommand.Create(),
            UrlCommand.Create(),
            StatusCommand.Create(),
            PsqlCommand.Create(),
            ServeCommand.Create(),
            MigrateCommand.Create(),
            WorkspaceCommand.Create(),
        };
        return await root.Parse(args).InvokeAsync();
    }
}
