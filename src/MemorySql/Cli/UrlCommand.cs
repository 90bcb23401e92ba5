using System.CommandLine;
using MemorySql.Runtime;

namespace MemorySql.Cli;

/// <summary>`memorysql url`: the connection URL of the embedded instance, for psql and drivers.</summary>
internal static class UrlCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDir();
        var admin = new Option<bool>("--admin") { Description = "The admin role's URL instead of the default workspace's." };
        var command = new Command("url", "Print the connection URL of the instance `memorysql up` runs (the default workspace, or --admin).")
        {
            dataDir, admin,
        };
        command.SetAction(parse => Output.Guard(() =>
        {
            var folder = DataFolder.Open(parse.GetValue(dataDir)!);
            Console.WriteLine(folder.Url(parse.GetValue(admin)));
            return Task.FromResult(0);
        }).GetAwaiter().GetResult());
        return command;
    }
}
