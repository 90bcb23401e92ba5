using System.CommandLine;
using MemorySql.Cli;
using MemorySql.Hosting;
using MemorySql.Proxy;

namespace MemorySql;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        // Inline socket completions: socket completions run the relay on .NET's socket threads, one thread hop less
        // per relayed message (docs/benchmarks.md). Safe for the whole host because the relay never blocks and the
        // workers continue on the thread pool (WorkerSynchronizationContext). Must come before the first socket
        // operation of the process. DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 turns them off.
        ProxyServer.EnableInlineSocketCompletions();
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
