using Npgsql;

namespace MemorySql.Runtime;

/// <summary>Workspace roles, created through the SQL API so the CLI and SQL users get the same thing.</summary>
public static class Workspaces
{
    /// <summary>Creates the workspace when its role does not exist yet.</summary>
    public static async Task<bool> EnsureAsync(string adminConnectionString, string name, string password, Action<string>? progress, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using (var exists = new NpgsqlCommand("SELECT 1 FROM memory.workspaces WHERE name = $1", connection))
        {
            exists.Parameters.Add(new() { Value = name });
            if (await exists.ExecuteScalarAsync(cancellationToken) is not null) return false;
        }
        progress?.Invoke($"creating workspace {name}");
        await using var create = new NpgsqlCommand("SELECT memory.create_workspace($1, $2)", connection);
        create.Parameters.Add(new() { Value = name });
        create.Parameters.Add(new() { Value = password });
        await create.ExecuteNonQueryAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Gives a workspace the schema of its own that <c>memory.create_workspace</c> gives the roles it creates
    /// (for workspaces made before it did); true when the schema was created now.
    /// </summary>
    public static async Task<bool> EnsureSchemaAsync(string adminConnectionString, string name, Action<string>? progress, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var ensure = new NpgsqlCommand("SELECT memory.ensure_workspace_schema($1::name)", connection);
        ensure.Parameters.Add(new() { Value = name });
        var created = (bool)(await ensure.ExecuteScalarAsync(cancellationToken))!;
        if (created) progress?.Invoke($"creating schema {name} for the workspace's own tables");
        return created;
    }
}
