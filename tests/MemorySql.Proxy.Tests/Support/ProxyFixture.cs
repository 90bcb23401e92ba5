using System.Globalization;
using MemorySql.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.Proxy.Tests.Support;

/// <summary>A fresh database on the test cluster with a MemorySql proxy in front of it.</summary>
public class ProxyFixture : TestDatabase
{
    public ProxyServer Proxy { get; private set; } = null!;
    public int ProxyPort => Proxy.LocalEndPoint.Port;

    /// <summary>Options of the proxy under test; derived fixtures change them before start.</summary>
    protected virtual void Configure(ProxyOptions options) { }

    /// <summary>The embedding provider of the proxy under test (none: memory calls pass unchanged).</summary>
    protected virtual MemorySql.Embeddings.IEmbeddingProvider? CreateEmbeddings() => null;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var options = new ProxyOptions
        {
            Port = 0,
            Upstream = { Host = "127.0.0.1", Port = Server.Port, TlsMode = UpstreamTlsMode.Disable },
        };
        Configure(options);
        Proxy = new ProxyServer(options, CreateEmbeddings(), NullLoggerFactory.Instance);
        await Proxy.StartAsync(CancellationToken.None);
    }

    public override async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>Admin connection string through the proxy (no pooling unless asked).</summary>
    public string ProxyConnectionString(string extra = "Pooling=false") =>
        $"Host=127.0.0.1;Port={ProxyPort.ToString(CultureInfo.InvariantCulture)};Username={Server.AdminUser};Password={Server.AdminPassword};Database={Name};{extra}";

    public string DirectConnectionString(string extra = "Pooling=false") =>
        $"Host=127.0.0.1;Port={Server.Port.ToString(CultureInfo.InvariantCulture)};Username={Server.AdminUser};Password={Server.AdminPassword};Database={Name};{extra}";

    public async Task<NpgsqlConnection> OpenProxyAsync(string extra = "Pooling=false")
    {
        var connection = new NpgsqlConnection(ProxyConnectionString(extra));
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>
    /// Creates (once per cluster) a login role that authenticates with md5, cleartext or SCRAM, with rights on
    /// this database's public schema.
    /// </summary>
    public async Task EnsureRoleAsync(string role, string password, RoleAuth auth)
    {
        // Roles are cluster-wide and test classes run in parallel: concurrent ALTER ROLE on the same role
        // fails with "tuple concurrently updated", so take turns.
        await RoleLock.WaitAsync();
        try
        {
            await EnsureRoleCoreAsync(role, password, auth);
        }
        finally
        {
            RoleLock.Release();
        }
    }

    private static readonly SemaphoreSlim RoleLock = new(1, 1);

    private async Task EnsureRoleCoreAsync(string role, string password, RoleAuth auth)
    {
        var group = auth switch
        {
            RoleAuth.Md5 => PostgresServer.Md5LoginGroup,
            RoleAuth.Cleartext => PostgresServer.PasswordLoginGroup,
            _ => null,
        };
        await using var conn = new NpgsqlConnection(Server.AdminConnectionString(Name));
        await conn.OpenAsync();
        await RunIgnoringDuplicates(conn, group is null ? null : $"CREATE ROLE {group} NOLOGIN");
        await RunIgnoringDuplicates(conn, $"CREATE ROLE {role} LOGIN");
        var encryption = auth == RoleAuth.Md5 ? "md5" : "scram-sha-256";
        await using (var cmd = new NpgsqlCommand($"SET password_encryption = '{encryption}'; ALTER ROLE {role} PASSWORD '{password}'", conn))
            await cmd.ExecuteNonQueryAsync();
        if (group is not null) await RunIgnoringDuplicates(conn, $"GRANT {group} TO {role}");
        await using (var cmd = new NpgsqlCommand($"GRANT ALL ON SCHEMA public TO {role}", conn))
            await cmd.ExecuteNonQueryAsync();
    }

    private static async Task RunIgnoringDuplicates(NpgsqlConnection conn, string? sql)
    {
        if (sql is null) return;
        try
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (e.SqlState is "42710" or "23505" or "XX000")
        {
            // created by another test class at the same moment
        }
    }
}

public enum RoleAuth
{
    Scram,
    Md5,
    Cleartext,
}
