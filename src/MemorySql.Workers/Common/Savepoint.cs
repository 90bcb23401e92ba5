using Npgsql;

namespace MemorySql.Workers.Common;

/// <summary>
/// SAVEPOINT, RELEASE and ROLLBACK TO as ordinary asynchronous commands. Npgsql's own
/// <c>NpgsqlTransaction.SaveAsync/ReleaseAsync/RollbackAsync(name)</c> were seen waiting synchronously for the
/// server's answer: on .NET's socket thread (inline socket completions) that wait can only be ended by that same
/// thread, so every socket of the process stalled until the 30 s command timeout (found with gdb and the JIT's
/// perf map; see docs/proxy.md, "Inline socket completions").
/// </summary>
internal static class Savepoint
{
    public static Task CreateAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken) =>
        RunAsync(connection, "SAVEPOINT " + Checked(name), cancellationToken);

    public static Task ReleaseAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken) =>
        RunAsync(connection, "RELEASE SAVEPOINT " + Checked(name), cancellationToken);

    public static Task RollbackToAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken) =>
        RunAsync(connection, "ROLLBACK TO SAVEPOINT " + Checked(name), cancellationToken);

    private static async Task RunAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Names are constants of the workers; refuse anything that is not a plain identifier rather than quote it.
    private static string Checked(string name)
    {
        if (name.Length == 0 || !name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            throw new ArgumentException($"savepoint name '{name}' is not a plain lower-case identifier", nameof(name));
        return name;
    }
}
