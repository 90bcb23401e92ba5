using System.CommandLine;
using MemorySql.Cli;
using MemorySql.Hosting;

namespace MemorySql;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // Inline socket completions (ProxyServer.EnableInlineSocketCompletions, one thread hop less per relayed
        // message) stay off in the full host: with the workers in the same process they stalled every socket of
        // it for 30–60 s after an ingest (some continuation blocks a socket thread; not found yet), measured with
        // the README journey: 34–49 s with them, 5–6 s without. DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1
        // still turns them on for a proxy-only deployment.
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
