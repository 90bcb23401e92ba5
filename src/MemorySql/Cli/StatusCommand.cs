using System.CommandLine;
using System.Net.Sockets;
using MemorySql.Runtime;
using Npgsql;

namespace MemorySql.Cli;

/// <summary>`memorysql status`: what runs, how many memories, how deep the queues are.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var dataDir = CommonOptions.DataDir();
        var upstream = CommonOptions.Upstream(required: false);
        var command = new Command("status", "Show what runs (PostgreSQL, proxy), memory counts, queue depths and worker health.")
        {
            dataDir, upstream,
        };
        command.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            string adminConnectionString;
            if (parse.GetValue(upstream) is { } up)
            {
                adminConnectionString = PostgresUrl.ToConnectionString(up);
            }
            else
            {
                var folder = DataFolder.Open(parse.GetValue(dataDir)!);
                adminConnectionString = folder.AdminConnectionString();
                var cluster = folder.Cluster(PostgresBinaries.Locate());
                var pgUp = cluster.IsRunning();
                Console.WriteLine($"data folder   {folder.Path}");
                Console.WriteLine($"postgresql    {(pgUp ? "running" : "stopped")} on 127.0.0.1:{folder.State.PostgresPort}");
                Console.WriteLine($"proxy         {(await IsListeningAsync(folder.State.ProxyPort, cancellationToken) ? "listening" : "not listening")} on 127.0.0.1:{folder.State.ProxyPort}");
                if (!pgUp) return 0;
            }
            await PrintStatsAsync(adminConnectionString, cancellationToken);
            return 0;
        }));
        return command;
    }

    private static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Prints memory.stats (section, key, value rows) as an aligned table, one blank line between sections.</summary>
    private static async Task PrintStatsAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand("SELECT section, key, value FROM memory.stats", connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var rows = new List<(string Section, string Key, long Value)>();
        while (await reader.ReadAsync(cancellationToken))
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
        Console.WriteLine();
        string? previous = null;
        foreach (var (section, key, value) in rows)
        {
            Console.WriteLine($"{(section == previous ? "" : section),-18} {key,-28} {value,10}");
            previous = section;
        }
    }
}
