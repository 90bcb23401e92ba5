using Npgsql;

namespace MemorySql.Testing;

/// <summary>Small helpers to run SQL and read whole result sets as dictionaries.</summary>
public static class SqlRows
{
    public static async Task<List<Dictionary<string, object?>>> QueryAsync(this NpgsqlConnection connection, string sql, params object?[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return await ReadAsync(cmd, args);
    }

    public static async Task<List<Dictionary<string, object?>>> QueryAsync(this NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        return await ReadAsync(cmd, args);
    }

    public static async Task<T?> ScalarAsync<T>(this NpgsqlConnection connection, string sql, params object?[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        AddArguments(cmd, args);
        var result = await cmd.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    public static async Task<T?> ScalarAsync<T>(this NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        AddArguments(cmd, args);
        var result = await cmd.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    public static async Task ExecAsync(this NpgsqlConnection connection, string sql, params object?[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        AddArguments(cmd, args);
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task ExecAsync(this NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        AddArguments(cmd, args);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Runs a call that must fail and returns the server's error.</summary>
    public static async Task<PostgresException> FailsAsync(this NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        AddArguments(cmd, args);
        return await Xunit.Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
    }

    public static async Task<PostgresException> FailsAsync(this NpgsqlConnection connection, string sql, params object?[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        AddArguments(cmd, args);
        return await Xunit.Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
    }

    private static async Task<List<Dictionary<string, object?>>> ReadAsync(NpgsqlCommand cmd, object?[] args)
    {
        AddArguments(cmd, args);
        var rows = new List<Dictionary<string, object?>>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (var i = 0; i < reader.FieldCount; i++) row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>$1, $2, … in order; a null argument is sent as SQL NULL.</summary>
    private static void AddArguments(NpgsqlCommand cmd, object?[] args)
    {
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
    }
}
