using Npgsql;
using Xunit;

namespace MemorySql.Testing;

/// <summary>
/// A class fixture: a fresh, migrated database for one test class on the shared test cluster.
/// Use it with IClassFixture&lt;TestDatabase&gt;.
/// </summary>
public class TestDatabase : IAsyncLifetime
{
    private NpgsqlDataSource? _adminDataSource;

    public PostgresServer Server { get; private set; } = null!;
    public string Name { get; private set; } = "";
    public string AdminConnectionString => Server.AdminConnectionString(Name);

    /// <summary>A pooled data source as the cluster's admin (owner of the memory schema; RLS does not apply).</summary>
    public NpgsqlDataSource Admin => _adminDataSource ??= NpgsqlDataSource.Create(Server.Cluster.AdminConnectionString(Name));

    public virtual async Task InitializeAsync()
    {
        Server = await PostgresServer.GetAsync();
        Name = await Server.CreateDatabaseAsync(GetType().Name);
    }

    public virtual async Task DisposeAsync()
    {
        if (_adminDataSource is not null) await _adminDataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        if (Name.Length > 0) await Server.DropDatabaseAsync(Name);
    }

    /// <summary>Runs SQL as the admin and returns the first column of the first row.</summary>
    public async Task<T?> ScalarAsync<T>(string sql, params object?[] args)
    {
        await using var cmd = Admin.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        var result = await cmd.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    public async Task ExecuteAsync(string sql, params object?[] args)
    {
        await using var cmd = Admin.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync();
    }
}
