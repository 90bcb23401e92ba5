using Npgsql;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>Reads whole result sets as dictionaries (column name → value).</summary>
internal static class Rows
{
    public static async Task<List<Dictionary<string, object?>>> QueryAsync(this NpgsqlDataSource dataSource, string sql, params object?[] args)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var a in args) command.Parameters.Add(new NpgsqlParameter { Value = a ?? DBNull.Value });
        var rows = new List<Dictionary<string, object?>>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (var i = 0; i < reader.FieldCount; i++) row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }
}
