using Npgsql;

namespace MemorySql.Workers.Common;

/// <summary>
/// What a worker needs of the memory schema, checked once when it starts: a database migrated by an older
/// MemorySql lacks the newer tables and routines, and the worker should say which and how to fix it rather
/// than fail on every batch.
/// </summary>
internal static class SchemaRequirement
{
    /// <summary>
    /// Throws <see cref="InvalidOperationException"/> naming every missing object. Tables and views are given as
    /// <c>memory.name</c>, routines with their argument types (<c>memory.fold_access(integer)</c>).
    /// </summary>
    public static async Task RequireAsync(NpgsqlDataSource dataSource, string worker, IReadOnlyList<string> objects, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT coalesce(array_agg(o ORDER BY n), '{}')
              FROM unnest($1::text[]) WITH ORDINALITY u(o, n)
             WHERE (CASE WHEN strpos(o, '(') > 0 THEN to_regprocedure(o)::oid ELSE to_regclass(o)::oid END) IS NULL
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = objects.ToArray() });
        var missing = (string[])(await command.ExecuteScalarAsync(cancellationToken))!;
        if (missing.Length > 0)
            throw new InvalidOperationException(
                $"the {worker} worker needs {string.Join(", ", missing)}, which the database does not have: its memory schema is older than this MemorySql; apply the migrations (memorysql migrate) and restart");
    }
}
