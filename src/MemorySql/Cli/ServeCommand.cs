using System.CommandLine;
using System.Globalization;
using MemorySql.Hosting;
using MemorySql.Runtime;
using Npgsql;

namespace MemorySql.Cli;

/// <summary>`memorysql serve`: the proxy and workers in front of an existing PostgreSQL.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var upstream = CommonOptions.Upstream(required: true);
        var port = CommonOptions.Port();
        var listen = CommonOptions.Listen();
        var config = CommonOptions.Config();
        var migrate = new Option<bool>("--migrate") { Description = "Install or upgrade the memory schema before serving." };
        var command = new Command("serve",
            "Run the proxy (and the workers) in front of an existing PostgreSQL. Clients log in through the proxy with " +
            "their own credentials; the --upstream user runs migrations and workers. Ordinary SQL is relayed to any " +
            "database, with or without the memory schema.")
        {
            upstream, port, listen, config, migrate,
        };
        command.SetAction((parse, cancellationToken) => Output.Guard(async () =>
        {
            var connectionString = PostgresUrl.ToConnectionString(parse.GetValue(upstream)!);
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (parse.GetValue(migrate))
                await new Schema.Migrator().MigrateAsync(connectionString, Output.Progress, cancellationToken);
            var installed = await MemorySchemaInstalledAsync(connectionString, cancellationToken);
            if (!installed)
                Output.Progress($"the memory schema is not installed in {builder.Database}: relaying ordinary SQL only, workers off " +
                                "(install it with: memorysql migrate --upstream …, or serve --migrate)");
            var configuration = MemorySqlConfiguration.Build(parse.GetValue(config), new Dictionary<string, string?>
            {
                ["Proxy:Port"] = parse.GetValue(port).ToString(CultureInfo.InvariantCulture),
                ["Proxy:ListenAddress"] = parse.GetValue(listen),
            });
            var target = new HostTarget(connectionString, builder.Host ?? "localhost", builder.Port, TlsModeOf(builder.SslMode),
                builder.RootCertificate, installed);
            await MemorySqlHost.RunAsync(configuration, target, () =>
                Output.Success($"MemorySql is relaying {parse.GetValue(listen)}:{parse.GetValue(port)} → {target.UpstreamHost}:{target.UpstreamPort}"),
                cancellationToken);
            return 0;
        }));
        return command;
    }

    /// <summary>The proxy's upstream TLS mode equivalent to the --upstream connection's sslmode.</summary>
    private static Proxy.UpstreamTlsMode TlsModeOf(SslMode mode) => mode switch
    {
        SslMode.Disable => Proxy.UpstreamTlsMode.Disable,
        SslMode.Require => Proxy.UpstreamTlsMode.Require,
        SslMode.VerifyCA => Proxy.UpstreamTlsMode.VerifyCa,
        SslMode.VerifyFull => Proxy.UpstreamTlsMode.VerifyFull,
        _ => Proxy.UpstreamTlsMode.Prefer,
    };

    private static async Task<bool> MemorySchemaInstalledAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand("SELECT to_regclass('memory.schema_migrations') IS NOT NULL", connection);
        return (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }
}
