using System.CommandLine;
using System.Globalization;
using MemorySql.Hosting;
using MemorySql.Runtime;

namespace MemorySql.Cli;

/// <summary>`memorysql up`: the embedded default, in the foreground until Ctrl-C.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDir();
        var port = CommonOptions.Port();
        var listen = CommonOptions.Listen();
        var config = CommonOptions.Config();
        var command = new Command("up",
            "Start MemorySql on a private PostgreSQL cluster in a data folder: created on first run (initdb, generated " +
            "passwords, pgvector, migrations, a default workspace), started now, stopped cleanly on Ctrl-C. " +
            "Prints the connection URL when ready and stays in the foreground.")
        {
            dataDir, port, listen, config,
        };
        command.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            var configuration = MemorySqlConfiguration.Build(parse.GetValue(config), new Dictionary<string, string?>
            {
                ["Proxy:Port"] = parse.GetValue(port).ToString(CultureInfo.InvariantCulture),
                ["Proxy:ListenAddress"] = parse.GetValue(listen),
            });
            await using var instance = await LocalInstance.StartAsync(parse.GetValue(dataDir)!, parse.GetValue(port), Output.Progress, cancellationToken,
                ClusterOptions.FromConfiguration(configuration));
            var target = new HostTarget(instance.Folder.AdminConnectionString(), instance.UpstreamHost, instance.Folder.State.PostgresPort,
                Proxy.UpstreamTlsMode.Disable, UpstreamCaFile: null, MemorySchemaInstalled: true);
            await MemorySqlHost.RunAsync(configuration, target, () =>
            {
                Output.Success($"MemorySql is ready (data in {instance.Folder.Path}). Connect with:");
                Console.WriteLine(instance.Folder.Url(admin: false));
                Output.Progress("psql \"$(./memorysql url)\"   ·   Ctrl-C stops it");
            }, cancellationToken);
            Output.Progress("shutting down");
            return 0;
        }));
        return command;
    }
}
