using System.Globalization;
using Npgsql;

namespace MemorySql.Benchmarks;

/// <summary>One-line SQL for the benchmark programs' set-up and counts.</summary>
internal static class BenchSql
{
    /// <summary>Runs a statement with no command timeout (loads and index builds can take minutes).</summary>
    public static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The first column of the first row as a long (a count).</summary>
    public static async Task<long> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
