using System.CommandLine;
using MemorySql.Cli;
using MemorySql.Hosting;

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
            EvalCommand.Create(),
        };
        // --Section:Key=value flags set any configuration key; the commands' own flags are parsed by System.CommandLine.
        var (commandArgs, overrides) = MemorySqlConfiguration.SplitOverrides(args);
        MemorySqlConfiguration.CommandLineOverrides = overrides;
        return await root.Parse(commandArgs).InvokeAsync();
    }
}
