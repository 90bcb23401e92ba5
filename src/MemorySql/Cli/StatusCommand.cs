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
            await PrintWorkersAsync(adminConnectionString, cancellationToken);
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

    /// <summary>Prints memory.worker_status: every worker of every MemorySql process on this database, with its last error.</summary>
    private static async Task PrintWorkersAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand("""
            SELECT worker || CASE WHEN target = '' THEN '' ELSE '/' || target END, instance, state, processed,
                   coalesce(queue_depth::text, '-'), coalesce(failed_depth::text, '-'),
                   coalesce(floor(extract(epoch FROM now() - last_success_at))::text || ' s ago', 'never'),
                   coalesce(left(replace(last_error, E'\n', ' '), 100), '')
            FROM memory.worker_status ORDER BY worker, target, instance
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        var first = true;
        while (await reader.ReadAsync(cancellationToken))
        {
            if (first)
            {
                Console.WriteLine();
                Console.WriteLine($"{"worker",-34} {"instance",-22} {"state",-8} {"processed",10} {"queued",8} {"failed",7}  {"last success",-14} last error");
                first = false;
            }
            Console.WriteLine($"{reader.GetString(0),-34} {reader.GetString(1),-22} {reader.GetString(2),-8} {reader.GetInt64(3),10} {reader.GetString(4),8} {reader.GetString(5),7}  {reader.GetString(6),-14} {reader.GetString(7)}");
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
            Console.WriteLine($"{(section == previous ? "" : section),-18} {key,-44} {value,10}");
            previous = section;
        }
    }
}
