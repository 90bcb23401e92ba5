using Npgsql;

namespace MemorySql.Schema;

/// <summary>What a migration run did.</summary>
public sealed record MigrationReport(IReadOnlyList<string> Applied, bool DefinitionsApplied);

/// <summary>
/// Brings a database to the schema this build expects. Versioned files in migrations/ are applied once
/// each, in order, each in its own transaction, and recorded with a checksum; the idempotent files in
/// sql/ (functions, views, policies) are re-applied together whenever any of them changed. A session
/// advisory lock makes concurrent instances take turns instead of racing.
/// </summary>
public sealed class Migrator
{
    /// <summary>Advisory lock key: the first 8 bytes of "memorysql.migrate" as a bigint.</summary>
    internal const long LockKey = 0x6d656d6f72797371;

    private readonly IReadOnlyList<SchemaScript> _migrations;
    private readonly IReadOnlyList<SchemaScript> _definitions;

    public Migrator() : this(SchemaScript.Migrations(), SchemaScript.Definitions()) { }

    public Migrator(IReadOnlyList<SchemaScript> migrations, IReadOnlyList<SchemaScript> definitions)
    {
        _migrations = migrations;
        _definitions = definitions;
        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidOperationException($"two migrations share version {duplicate.Key}: {string.Join(", ", duplicate.Select(d => d.Name))}");
    }

    public async Task<MigrationReport> MigrateAsync(string connectionString, Action<string>? progress, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        return await MigrateAsync(connection, progress, cancellationToken);
    }

    public async Task<MigrationReport> MigrateAsync(NpgsqlConnection connection, Action<string>? progress, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, $"SELECT pg_advisory_lock({LockKey})", cancellationToken);
        try
        {
            await ExecuteAsync(connection, """
                CREATE SCHEMA IF NOT EXISTS memory;
                CREATE TABLE IF NOT EXISTS memory.schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now());
                CREATE TABLE IF NOT EXISTS memory.schema_definitions (
                    name       text PRIMARY KEY,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now());
                """, cancellationToken);

            var applied = await AppliedMigrationsAsync(connection, cancellationToken);
            VerifyAppliedAreUnchanged(applied);

            var newlyApplied = new List<string>();
            foreach (var migration in _migrations.OrderBy(m => m.Version).Where(m => !applied.ContainsKey(m.Version)))
            {
                progress?.Invoke($"applying migration {migration.Name}");
                await using var tx = await connection.BeginTransactionAsync(cancellationToken);
                await ExecuteAsync(connection, migration.Sql, cancellationToken, migration.Name);
                await using (var record = new NpgsqlCommand(
                    "INSERT INTO memory.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", connection))
                {
                    record.Parameters.Add(new() { Value = migration.Version });
                    record.Parameters.Add(new() { Value = migration.Name });
                    record.Parameters.Add(new() { Value = migration.Checksum });
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await tx.CommitAsync(cancellationToken);
                newlyApplied.Add(migration.Name);
            }

            var definitionsApplied = await ApplyDefinitionsAsync(connection, force: newlyApplied.Count > 0, progress, cancellationToken);
            // Database settings are not copied by CREATE DATABASE … TEMPLATE nor by a plain pg_dump restore:
            // make sure the short names (remember, recall, …) resolve on every run.
            await ExecuteAsync(connection, "SELECT memory.ensure_search_path()", cancellationToken);
            return new MigrationReport(newlyApplied, definitionsApplied);
        }
        finally
        {
            await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({LockKey})", CancellationToken.None);
        }
    }

    private void VerifyAppliedAreUnchanged(Dictionary<int, (string Name, string Checksum)> applied)
    {
        foreach (var (version, (name, checksum)) in applied)
        {
            var ours = _migrations.FirstOrDefault(m => m.Version == version);
            if (ours is null)
                throw new MigrationException(
                    $"the database has migration {name}, which this build does not know: it was made by a newer MemorySql. " +
                    "Run that version, or restore a backup taken before it.");
            if (ours.Checksum != checksum)
                throw new MigrationException(
                    $"migration {name} was edited after it was applied (checksum {checksum[..12]} in the database, " +
                    $"{ours.Checksum[..12]} in this build). Applied migrations never change: revert the edit and put the change in a new migration.");
        }
    }

    /// <summary>Re-creates every function, view and policy when any definition file differs from what is recorded.</summary>
    private async Task<bool> ApplyDefinitionsAsync(NpgsqlConnection connection, bool force, Action<string>? progress, CancellationToken cancellationToken)
    {
        var recorded = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand("SELECT name, checksum FROM memory.schema_definitions", connection))
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
            while (await reader.ReadAsync(cancellationToken)) recorded[reader.GetString(0)] = reader.GetString(1);

        var changed = force || recorded.Count != _definitions.Count ||
                      _definitions.Any(d => !recorded.TryGetValue(d.Name, out var c) || c != d.Checksum);
        if (!changed) return false;

        progress?.Invoke($"installing {_definitions.Count} definition files (functions, views, policies)");
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var definition in _definitions)
            await ExecuteAsync(connection, definition.Sql, cancellationToken, definition.Name);
        await ExecuteAsync(connection, "DELETE FROM memory.schema_definitions", cancellationToken);
        foreach (var definition in _definitions)
        {
            await using var record = new NpgsqlCommand("INSERT INTO memory.schema_definitions (name, checksum) VALUES ($1, $2)", connection);
            record.Parameters.Add(new() { Value = definition.Name });
            record.Parameters.Add(new() { Value = definition.Checksum });
            await record.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return true;
    }

    private static async Task<Dictionary<int, (string, string)>> AppliedMigrationsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, (string, string)>();
        await using var cmd = new NpgsqlCommand("SELECT version, name, checksum FROM memory.schema_migrations", connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            applied[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
        return applied;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, string? scriptName = null)
    {
        await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        try
        {
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (scriptName is not null)
        {
            throw new MigrationException($"{scriptName} failed: {e.SqlState}: {e.MessageText}" +
                                         (e.Position > 0 ? $" (at character {e.Position})" : "") +
                                         (e.Where is null ? "" : $" [{e.Where}]"), e);
        }
    }
}

/// <summary>A migration cannot be applied; the message says what to do.</summary>
public sealed class MigrationException : Exception
{
    public MigrationException(string message) : base(message) { }
    public MigrationException(string message, Exception inner) : base(message, inner) { }
    public MigrationException() { }
}
