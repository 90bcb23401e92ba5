using System.CommandLine;
using MemorySql.Runtime;
using MemorySql.Schema;

namespace MemorySql.Cli;

/// <summary>`memorysql migrate`: install or upgrade the memory schema in an existing database.</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var upstream = CommonOptions.Upstream(required: true);
        var command = new Command("migrate",
            "Install or upgrade the memory schema (pgvector, tables, functions, views, policies) in an existing " +
            "PostgreSQL database. Safe to run again and from several instances at once.")
        {
            upstream,
        };
        command.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            var connectionString = PostgresUrl.ToConnectionString(parse.GetValue(upstream)!);
            var report = await new Migrator().MigrateAsync(connectionString, Output.Progress, cancellationToken);
            Output.Success(report.Applied.Count == 0 && !report.DefinitionsApplied
                ? "the memory schema is up to date"
                : $"applied {report.Applied.Count} migration(s){(report.DefinitionsApplied ? " and re-installed the definitions" : "")}");
            return 0;
        }));
        return command;
    }
}
