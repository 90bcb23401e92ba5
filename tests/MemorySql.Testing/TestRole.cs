using Npgsql;

namespace MemorySql.Testing;

/// <summary>A role created by a <see cref="TestDatabase"/> (usually a workspace) and how to connect as it.</summary>
public sealed class TestRole
{
    private readonly TestDatabase _database;
    private NpgsqlDataSource? _dataSource;

    internal TestRole(TestDatabase database, string name, string password)
    {
        _database = database;
        Name = name;
        Password = password;
    }

    public string Name { get; }
    public string Password { get; }

    /// <summary>TCP + password connection string to the fixture's database as this role.</summary>
    public string ConnectionString => _database.ConnectionStringFor(Name, Password);

    /// <summary>A pooled data source as this role, disposed with the fixture.</summary>
    public NpgsqlDataSource DataSource => _dataSource ??= _database.Track(NpgsqlDataSource.Create(ConnectionString));

    /// <summary>A new, unpooled connection as this role (for tests that change session settings).</summary>
    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>Runs SQL as this role and returns the first column of the first row.</summary>
    public Task<T?> ScalarAsync<T>(string sql, params object?[] args) => DataSource.ScalarAsync<T>(sql, args);

    /// <summary>Runs SQL as this role.</summary>
    public Task ExecuteAsync(string sql, params object?[] args) => DataSource.ExecAsync(sql, args);
}
