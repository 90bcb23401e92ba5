using Npgsql;

namespace MemorySql.Workers.Llm;

/// <summary>Asks the database whether a workspace may use the LLM now (memory.llm_budget: policy llm.enabled, the daily token budget).</summary>
internal static class LlmBudget
{
    /// <summary>Why the workspace must not use the LLM now, or null when it may.</summary>
    public static async Task<string?> OfflineReasonAsync(NpgsqlConnection connection, string workspace, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT offline_reason FROM memory.llm_budget($1)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = workspace, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Name });
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }
}
