using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// The extraction worker's SQL (docs/architecture.md, "the extraction queue"): claiming memory.extraction_queue
/// rows FOR UPDATE SKIP LOCKED, writing items through memory.store as the resource's workspace (SET LOCAL ROLE,
/// so dedup, the embed queue, the audit log and row-level security work as for a client, and whatever
/// lifecycle checks hang off memory.store run on them too), recording the result on the resource, dequeuing,
/// and recording failed attempts.
/// </summary>
internal static class ExtractionStore
{
    private const int MaxErrorLength = 2000;

    public static async Task<List<ClaimedResource>> ClaimAsync(NpgsqlConnection connection, int limit, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT q.resource_id, q.workspace, q.attempts, r.entity, r.process, r.session_id, r.kind, r.content::text, r.metadata::text
            FROM memory.extraction_queue q
            JOIN memory.resources r ON r.id = q.resource_id
            WHERE q.state = 'queued' AND q.run_after <= now()
            ORDER BY q.run_after, q.enqueued_at
            LIMIT $1
            FOR UPDATE OF q SKIP LOCKED
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var rows = new List<ClaimedResource>(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ClaimedResource(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetGuid(5), reader.GetString(6), reader.GetString(7), reader.GetString(8)));
        }
        return rows;
    }

    /// <summary>
    /// Writes the items of one resource, records what extraction did on it, audits and dequeues it. Runs inside the
    /// caller's savepoint: a failure leaves nothing behind. Returns (items written or bumped, new memories).
    /// </summary>
    public static async Task<(int Items, int Inserted)> CompleteAsync(NpgsqlConnection connection, ClaimedResource resource,
        IReadOnlyList<ExtractedItem> items, JsonObject outcome, CancellationToken cancellationToken)
    {
        var rows = new JsonArray();
        foreach (var item in items)
        {
            var extraction = new JsonObject { ["mode"] = outcome["mode"]!.DeepClone(), ["message"] = item.Message };
            if (outcome["offline_reason"] is { } reason) extraction["offline_reason"] = reason.DeepClone();
            if (outcome["model"] is { } model) extraction["model"] = model.DeepClone();
            var metadata = new JsonObject { ["extraction"] = extraction };
            if (item.SessionKey is not null) metadata["session_key"] = item.SessionKey;
            rows.Add(new JsonObject
            {
                ["content"] = item.Content,
                ["type"] = item.Type,
                ["kind"] = item.Kind,
                ["importance"] = item.Importance,
                ["tags"] = new JsonArray([.. item.Tags.Select(t => (JsonNode)t)]),
                ["metadata"] = metadata,
                ["entity"] = item.Entity,
                ["valid_from"] = item.ValidFrom?.ToString("O"),
            });
        }

        var inserted = 0;
        var written = 0;
        await using (var batch = new NpgsqlBatch(connection))
        {
            // Written as the resource's workspace, exactly as remember() would write them for a client.
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL ROLE " + QuoteIdentifier(resource.Workspace)));
            var store = new NpgsqlBatchCommand("""
                SELECT count(*) FILTER (WHERE s.inserted)::int, count(*)::int
                FROM jsonb_to_recordset($1) AS i(content text, type text, kind text, importance real, tags text[],
                                                 metadata jsonb, entity text, valid_from timestamptz),
                     LATERAL memory.store(i.content, i.type, i.kind, i.importance, i.tags, i.metadata, coalesce(i.entity, ''),
                                          (SELECT s.id FROM memory.sessions s WHERE s.id = $2), i.valid_from, NULL, coalesce($3, ''),
                                          NULL, 'item', $4, NULL, NULL, NULL, false) s
                """);
            store.Parameters.Add(new NpgsqlParameter { Value = rows.ToJsonString(), NpgsqlDbType = NpgsqlDbType.Jsonb });
            store.Parameters.Add(new NpgsqlParameter { Value = (object?)resource.SessionId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
            store.Parameters.Add(new NpgsqlParameter { Value = (object?)resource.Process ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            store.Parameters.Add(new NpgsqlParameter { Value = resource.Id });
            batch.BatchCommands.Add(store);
            batch.BatchCommands.Add(new NpgsqlBatchCommand("RESET ROLE"));
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                inserted = reader.GetInt32(0);
                written = reader.GetInt32(1);
            }
        }

        outcome["items"] = written;
        outcome["new"] = inserted;
        var detail = outcome.DeepClone().AsObject();
        detail["resource"] = resource.Id.ToString();
        await using (var batch = new NpgsqlBatch(connection))
        {
            var update = new NpgsqlBatchCommand("UPDATE memory.resources SET extracted_at = now(), extraction = $2 WHERE id = $1");
            update.Parameters.Add(new NpgsqlParameter { Value = resource.Id });
            update.Parameters.Add(new NpgsqlParameter { Value = outcome.ToJsonString(), NpgsqlDbType = NpgsqlDbType.Jsonb });
            batch.BatchCommands.Add(update);
            var audit = new NpgsqlBatchCommand("INSERT INTO memory.events (workspace, action, entity, detail) VALUES ($1, 'extract', $2, $3)");
            audit.Parameters.Add(new NpgsqlParameter { Value = resource.Workspace, NpgsqlDbType = NpgsqlDbType.Name });
            audit.Parameters.Add(new NpgsqlParameter { Value = (object?)resource.Entity ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            audit.Parameters.Add(new NpgsqlParameter { Value = detail.ToJsonString(), NpgsqlDbType = NpgsqlDbType.Jsonb });
            batch.BatchCommands.Add(audit);
            var dequeue = new NpgsqlBatchCommand("DELETE FROM memory.extraction_queue WHERE resource_id = $1");
            dequeue.Parameters.Add(new NpgsqlParameter { Value = resource.Id });
            batch.BatchCommands.Add(dequeue);
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        return (written, inserted);
    }

    /// <summary>
    /// Counts a failed attempt: attempts + 1, the error, run_after pushed out, state 'failed' at the last attempt.
    /// A row another worker has meanwhile retried or finished is left alone. Returns the row's new state, or null.
    /// </summary>
    public static async Task<string?> RecordFailureAsync(NpgsqlConnection connection, ClaimedResource resource, string error, TimeSpan delay,
        int maxAttempts, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            UPDATE memory.extraction_queue q
            SET attempts = q.attempts + 1, last_error = $2, run_after = now() + make_interval(secs => $3),
                state = CASE WHEN q.attempts + 1 >= $4 THEN 'failed' ELSE 'queued' END, updated_at = now()
            WHERE q.resource_id = $1 AND q.attempts = $5 AND q.state = 'queued'
            RETURNING q.state
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = resource.Id });
        command.Parameters.Add(new NpgsqlParameter { Value = error.Length <= MaxErrorLength ? error : error[..MaxErrorLength] + "…" });
        command.Parameters.Add(new NpgsqlParameter { Value = delay.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter { Value = maxAttempts });
        command.Parameters.Add(new NpgsqlParameter { Value = resource.Attempts });
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>
    /// Puts a claimed resource back for a retry after <paramref name="delay"/> without counting an attempt: its
    /// write collided with another transaction's (a deadlock), which says nothing about the resource.
    /// </summary>
    public static async Task RequeueAsync(NpgsqlConnection connection, ClaimedResource resource, string error, TimeSpan delay,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            UPDATE memory.extraction_queue q
            SET last_error = $2, run_after = now() + make_interval(secs => $3), updated_at = now()
            WHERE q.resource_id = $1 AND q.attempts = $4 AND q.state = 'queued'
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = resource.Id });
        command.Parameters.Add(new NpgsqlParameter { Value = error.Length <= MaxErrorLength ? error : error[..MaxErrorLength] + "…" });
        command.Parameters.Add(new NpgsqlParameter { Value = delay.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter { Value = resource.Attempts });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task<(long Queued, long Failed)> QueueDepthAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'failed') FROM memory.extraction_queue");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
