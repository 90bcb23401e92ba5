using System.CommandLine;
using MemorySql.Runtime;

namespace MemorySql.Cli;

/// <summary>`memorysql psql`: psql connected to the embedded instance through the proxy.</summary>
internal static class PsqlCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDir();
        var admin = new Option<bool>("--admin") { Description = "Connect as the admin role instead of the default workspace." };
        var extra = new Argument<string[]>("psql-arguments")
        {
            Description = "Arguments passed on to psql, after --, e.g. memorysql psql -- -c 'select 1'.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("psql", "Run psql connected to the instance `memorysql up` runs.") { dataDir, admin, extra };
        command.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            var folder = DataFolder.Open(parse.GetValue(dataDir)!);
            string psql;
            try { psql = PostgresBinaries.Locate().Psql; }
            catch (InvalidOperationException) { psql = "psql"; }
            using var process = ProcessRunner.Start(psql, [folder.Url(parse.GetValue(admin)), .. parse.GetValue(extra) ?? []],
                runAsServiceUser: false, redirect: false);
            await process.WaitForExitAsync(cancellationToken);
            return process.ExitCode;
        }));
        return command;
    }
}
