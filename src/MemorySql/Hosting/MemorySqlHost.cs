using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MemorySql.Hosting;

/// <summary>
/// The long-running part of `up` and `serve`: one generic host with the proxy and the background workers.
/// Ctrl-C and SIGTERM stop it gracefully (the console lifetime turns them into a shutdown).
/// </summary>
internal static class MemorySqlHost
{
    public static async Task RunAsync(IConfiguration configuration, HostTarget target, Action onReady, CancellationToken cancellationToken)
    {
        using var host = Build(configuration, target, LogLevel.Information);
        await host.StartAsync(cancellationToken);
        onReady();
        await host.WaitForShutdownAsync(cancellationToken);
        // With inline socket completions (Program.Main) the shutdown may have continued on a socket event thread,
        // after a worker's last write. What follows blocks (disposal, stopping the embedded PostgreSQL through
        // pg_ctl, whose output pipes are read by that same socket engine): leave that thread first, or it waits on itself.
        await Task.Yield();
    }

    /// <summary>The same host, started and handed to the caller (e.g. `memorysql eval`, which runs its own instance in-process).</summary>
    public static async Task<IHost> StartAsync(IConfiguration configuration, HostTarget target, LogLevel minimumLevel, CancellationToken cancellationToken)
    {
        var host = Build(configuration, target, minimumLevel);
        try
        {
            await host.StartAsync(cancellationToken);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    private static IHost Build(IConfiguration configuration, HostTarget target, LogLevel minimumLevel)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            Configuration = new ConfigurationManager(),
        });
        builder.Configuration.AddConfiguration(configuration);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.SetMinimumLevel(minimumLevel);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Npgsql", LogLevel.Warning);
        builder.Services.AddSingleton(target);
        MemorySqlServices.Add(builder.Services, builder.Configuration, target);

        return builder.Build();
    }
}
