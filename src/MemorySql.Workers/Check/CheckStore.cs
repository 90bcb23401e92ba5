using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Workers.Check;

/// <summary>
/// The check worker's SQL (migrations/0003_lifecycle.sql, sql/140_dedup.sql, sql/150_contradictions.sql):
/// leasing memory.check_queue rows, reading the memory and its neighbours, applying a plan with the dequeue
/// in one transaction that first re-checks the lease, and recording failed attempts.
/// </summary>
internal sealed class CheckStore
{
    private const int MaxErrorLength = 2000;

    private readonly NpgsqlDataSource _dataSource;

    public CheckStore(NpgsqlDataSource dataSource) => _dataSource = dataSource;

    /// <summary>Leases up to <paramref name="limit"/> ready rows: claim = <paramref name="token"/>, run_after = now + lease.</summary>
    public async Task<List<ClaimedCheck>> ClaimAsync(Guid token, int limit, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            UPDATE memory.check_queue q
               SET claim = $1, run_after = now() + make_interval(secs => $2), updated_at = now()
              FROM (SELECT memory_id FROM memory.check_queue
                     WHERE state = 'queued' AND run_after <= now()
                     ORDER BY run_after, memory_id
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED) ready
             WHERE q.memory_id = ready.memory_id
            RETURNING q.memory_id, q.workspace, q.model, q.attempts, q.llm_attempts
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = token });
        command.Parameters.Add(new NpgsqlParameter { Value = lease.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var rows = new List<ClaimedCheck>(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(new ClaimedCheck(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4)));
        // Memory ids are time-ordered (UUID v7): check the older ones first.
        rows.Sort((x, y) => string.CompareOrdinal(x.MemoryId.ToString(), y.MemoryId.ToString()));
        return rows;
    }

    /// <summary>Moves the end of the lease of rows still held with <paramref name="token"/>.</summary>
    public async Task RenewAsync(Guid token, IReadOnlyList<Guid> ids, TimeSpan lease, CancellationToken cancellationToken)
    {
        if (ids.Count == 0) return;
        await using var command = _dataSource.CreateCommand(
            "UPDATE memory.check_queue SET run_after = now() + make_interval(secs => $3), updated_at = now() WHERE claim = $1 AND memory_id = ANY ($2)");
        command.Parameters.Add(new NpgsqlParameter { Value = token });
        command.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = lease.TotalSeconds });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Gives rows back at once (a worker stopping): claim cleared, ready now.</summary>
    public async Task ReleaseAsync(Guid token, IReadOnlyList<Guid> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0) return;
        await using var command = _dataSource.CreateCommand(
            "UPDATE memory.check_queue SET claim = NULL, run_after = now(), updated_at = now() WHERE claim = $1 AND memory_id = ANY ($2)");
        command.Parameters.Add(new NpgsqlParameter { Value = token });
        command.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<CheckedMemory?> LoadAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT id, workspace, entity, layer, type, status, pinned, content, created_at, valid_from
              FROM memory.memories WHERE id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return new CheckedMemory(reader.GetGuid(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3),
            reader.GetString(4), reader.GetString(5), reader.GetBoolean(6), reader.GetString(7),
            reader.GetFieldValue<DateTimeOffset>(8), reader.GetFieldValue<DateTimeOffset>(9));
    }

    public async Task<List<Neighbour>> NeighboursAsync(Guid id, int k, string model, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT candidate_id, similarity, content, type, layer, status, pinned, created_at, valid_from
              FROM memory.check_candidates($1, $2, $3)
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        command.Parameters.Add(new NpgsqlParameter { Value = k });
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        var rows = new List<Neighbour>(k);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(new Neighbour(reader.GetGuid(0), reader.GetFloat(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetString(5), reader.GetBoolean(6), reader.GetFieldValue<DateTimeOffset>(7), reader.GetFieldValue<DateTimeOffset>(8)));
        return rows;
    }

    public async Task<CheckPolicy> PolicyAsync(string workspace, string model, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT t.dedup, t.contradiction,
                   CASE WHEN jsonb_typeof(p.settings -> 'contradictions.auto_resolve') = 'boolean'
                        THEN (p.settings ->> 'contradictions.auto_resolve')::boolean ELSE true END,
                   memory.policy_number(p.settings, 'contradictions.min_confidence', 0.75)
              FROM memory.policy($1) p, memory.check_thresholds($1, $2) t
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = workspace, NpgsqlDbType = NpgsqlDbType.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new CheckPolicy(reader.GetFloat(0), reader.GetFloat(1), reader.GetBoolean(2), reader.GetDouble(3));
    }

    /// <summary>
    /// In one transaction: re-checks the lease (the row still carries <paramref name="token"/>), applies the
    /// actions in order, deletes the queue row, commits. Rolls everything back when the lease is lost or an
    /// action finds that a memory changed since the plan was made.
    /// </summary>
    public async Task<ApplyOutcome> ApplyAsync(ClaimedCheck check, Guid token, IReadOnlyList<CheckAction> actions, string worker,
        Func<CheckAction, string, Task>? applied, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var hold = new NpgsqlCommand("SELECT 1 FROM memory.check_queue WHERE memory_id = $1 AND claim = $2 FOR UPDATE", connection))
        {
            hold.Parameters.Add(new NpgsqlParameter { Value = check.MemoryId });
            hold.Parameters.Add(new NpgsqlParameter { Value = token });
            if (await hold.ExecuteScalarAsync(cancellationToken) is null)
            {
                await transaction.RollbackAsync(cancellationToken);
                return ApplyOutcome.LostClaim;
            }
        }
        var outcomes = new List<(CheckAction, string)>(actions.Count);
        foreach (var action in actions)
        {
            var outcome = action switch
            {
                MergeAction merge => await MergeAsync(connection, merge, worker, cancellationToken),
                ContradictionAction contradiction => await ContradictAsync(connection, contradiction, worker, cancellationToken),
                _ => throw new InvalidOperationException("unknown check action " + action.GetType().Name),
            };
            if (outcome.StartsWith("skipped", StringComparison.Ordinal))
            {
                await transaction.RollbackAsync(cancellationToken);
                return ApplyOutcome.Stale;
            }
            outcomes.Add((action, outcome));
        }
        await using (var dequeue = new NpgsqlCommand("DELETE FROM memory.check_queue WHERE memory_id = $1", connection))
        {
            dequeue.Parameters.Add(new NpgsqlParameter { Value = check.MemoryId });
            await dequeue.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        if (applied is not null)
        {
            foreach (var (action, outcome) in outcomes) await applied(action, outcome);
        }
        return ApplyOutcome.Applied;
    }

    private static async Task<string> MergeAsync(NpgsqlConnection connection, MergeAction merge, string worker, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT memory.merge_duplicate($1, $2, $3, $4)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = merge.Duplicate });
        command.Parameters.Add(new NpgsqlParameter { Value = merge.Survivor });
        command.Parameters.Add(new NpgsqlParameter { Value = (float)merge.Similarity });
        command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(new Dictionary<string, string> { ["by"] = worker }), NpgsqlDbType = NpgsqlDbType.Jsonb });
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<string> ContradictAsync(NpgsqlConnection connection, ContradictionAction action, string worker, CancellationToken cancellationToken)
    {
        var judgement = action.Judgement;
        var detail = new Dictionary<string, object> { ["by"] = worker, ["current"] = judgement.Current.ToString().ToLowerInvariant() };
        if (judgement.Tokens > 0) detail["llm_tokens"] = judgement.Tokens;
        if (judgement.LlmError is not null) detail["llm_error"] = Truncate(judgement.LlmError);
        if (judgement.OfflineReason is not null) detail["offline_reason"] = Truncate(judgement.OfflineReason);
        await using var command = new NpgsqlCommand(
            "SELECT contradiction_id, outcome FROM memory.record_contradiction($1, $2, $3, $4, $5, $6, $7, $8, $9)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = action.Newer });
        command.Parameters.Add(new NpgsqlParameter { Value = action.Older });
        command.Parameters.Add(new NpgsqlParameter { Value = judgement.VerdictName });
        command.Parameters.Add(new NpgsqlParameter { Value = judgement.Method });
        command.Parameters.Add(new NpgsqlParameter { Value = (float)judgement.Confidence });
        command.Parameters.Add(new NpgsqlParameter { Value = (float)action.Similarity });
        command.Parameters.Add(new NpgsqlParameter { Value = Truncate(judgement.Reason) });
        command.Parameters.Add(new NpgsqlParameter { Value = action.Resolve });
        command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(detail), NpgsqlDbType = NpgsqlDbType.Jsonb });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetString(1);
    }

    /// <summary>Counts a failed attempt (attempts + 1, the error, a later run_after, 'failed' at the last attempt) if the lease is still ours; true when it became 'failed'.</summary>
    public async Task<bool> RecordFailureAsync(ClaimedCheck check, Guid token, string error, int maxAttempts, TimeSpan delay, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            UPDATE memory.check_queue
               SET attempts = attempts + 1, last_error = $3, run_after = now() + make_interval(secs => $4),
                   state = CASE WHEN attempts + 1 >= $5 THEN 'failed' ELSE 'queued' END, claim = NULL, updated_at = now()
             WHERE memory_id = $1 AND claim = $2
            RETURNING state
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = check.MemoryId });
        command.Parameters.Add(new NpgsqlParameter { Value = token });
        command.Parameters.Add(new NpgsqlParameter { Value = Truncate(error) });
        command.Parameters.Add(new NpgsqlParameter { Value = delay.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter { Value = maxAttempts });
        return await command.ExecuteScalarAsync(cancellationToken) is "failed";
    }

    /// <summary>Counts a transient LLM failure (llm_attempts + 1, the error, a later run_after) without spending one of the row's attempts.</summary>
    public async Task RecordLlmRetryAsync(ClaimedCheck check, Guid token, string error, TimeSpan delay, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            UPDATE memory.check_queue
               SET llm_attempts = llm_attempts + 1, last_error = $3, run_after = now() + make_interval(secs => $4), claim = NULL, updated_at = now()
             WHERE memory_id = $1 AND claim = $2
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = check.MemoryId });
        command.Parameters.Add(new NpgsqlParameter { Value = token });
        command.Parameters.Add(new NpgsqlParameter { Value = Truncate("LLM: " + error) });
        command.Parameters.Add(new NpgsqlParameter { Value = delay.TotalSeconds });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<(long Queued, long Failed)> QueueDepthAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(
            "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'failed') FROM memory.check_queue");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static string Truncate(string error) => error.Length <= MaxErrorLength ? error : error[..MaxErrorLength] + "…";
}
