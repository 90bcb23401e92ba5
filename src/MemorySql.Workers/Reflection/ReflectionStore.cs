using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Workers.Reflection;

/// <summary>The reflection worker's SQL (sql/120_reflection.sql): claiming a group's marks, reading its members, writing or revising its summary, recording failures.</summary>
internal static class ReflectionStore
{
    private const int MaxErrorLength = 2000;

    /// <summary>
    /// Claims one group with settled marks: the oldest candidate no other worker holds (a transaction-level advisory
    /// lock on the group, so two workers never summarise one group at once), whose group is neither failed nor
    /// waiting for a retry; its marks are locked FOR UPDATE SKIP LOCKED. Null when there is nothing to do.
    /// </summary>
    public static async Task<(ReflectionGroup Group, long[] Marks)?> ClaimAsync(NpgsqlConnection connection, double debounceSeconds, CancellationToken cancellationToken)
    {
        var candidates = new List<ReflectionGroup>();
        await using (var command = new NpgsqlCommand("""
            SELECT q.workspace, q.entity, q.topic
            FROM memory.reflection_queue q
            LEFT JOIN memory.reflection_groups g ON g.workspace = q.workspace AND g.entity = q.entity AND g.topic = q.topic
            WHERE g.workspace IS NULL OR (g.state <> 'failed' AND g.run_after <= now())
            GROUP BY q.workspace, q.entity, q.topic
            HAVING max(q.at) <= now() - make_interval(secs => $1)
            ORDER BY min(q.id)
            LIMIT 20
            """, connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = debounceSeconds });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) candidates.Add(new ReflectionGroup(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }
        foreach (var group in candidates)
        {
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7079))", connection))
            {
                lockCommand.Parameters.Add(new NpgsqlParameter { Value = $"memorysql.reflection\n{group.Workspace}\n{group.Entity}\n{group.Topic}" });
                if (!(bool)(await lockCommand.ExecuteScalarAsync(cancellationToken))!) continue;
            }
            await using var marks = new NpgsqlCommand("""
                SELECT id FROM memory.reflection_queue WHERE workspace = $1 AND entity = $2 AND topic = $3 FOR UPDATE SKIP LOCKED
                """, connection);
            AddGroup(marks, group);
            var ids = new List<long>();
            await using (var reader = await marks.ExecuteReaderAsync(cancellationToken))
                while (await reader.ReadAsync(cancellationToken)) ids.Add(reader.GetInt64(0));
            if (ids.Count > 0) return (group, ids.ToArray());
        }
        return null;
    }

    /// <summary>The group's state row (its current summary and fingerprint), or nulls.</summary>
    public static async Task<(Guid? Summary, byte[]? Fingerprint, string? SummaryStatus, int Attempts)> GroupStateAsync(NpgsqlConnection connection,
        ReflectionGroup group, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT g.summary_id, g.fingerprint, m.status, g.attempts
            FROM memory.reflection_groups g LEFT JOIN memory.memories m ON m.id = g.summary_id
            WHERE g.workspace = $1 AND g.entity = $2 AND g.topic = $3
            """, connection);
        AddGroup(command, group);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return (null, null, null, 0);
        return (reader.IsDBNull(0) ? null : reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<byte[]>(1),
            reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3));
    }

    /// <summary>Reflection settings of the workspace's policy: enabled, min_members, max_sources.</summary>
    public static async Task<(bool Enabled, int MinMembers, int MaxSources)> PolicyAsync(NpgsqlConnection connection, string workspace, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT coalesce(p.settings -> 'reflection.enabled', 'true'::jsonb) <> 'false'::jsonb,
                   memory.policy_number(p.settings, 'reflection.min_members', 3)::int,
                   memory.policy_number(p.settings, 'reflection.max_sources', 50)::int
            FROM memory.policy($1) p
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = workspace, NpgsqlDbType = NpgsqlDbType.Name });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetBoolean(0), Math.Max(1, reader.GetInt32(1)), Math.Clamp(reader.GetInt32(2), 1, 1000));
    }

    public static async Task<List<GroupMember>> MembersAsync(NpgsqlConnection connection, ReflectionGroup group, int limit, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT id, content, kind, importance, created_at, content_hash FROM memory.reflection_members($1, $2, $3, $4)", connection);
        AddGroup(command, group);
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var members = new List<GroupMember>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            members.Add(new GroupMember(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetFloat(3),
                reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<byte[]>(5)));
        return members;
    }

    /// <summary>What was summarised: the members' ids and content hashes, in id order.</summary>
    public static byte[] Fingerprint(IEnumerable<GroupMember> members)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var m in members.OrderBy(m => m.Id))
        {
            sha.AppendData(m.Id.ToByteArray());
            sha.AppendData(m.ContentHash);
        }
        return sha.GetHashAndReset();
    }

    /// <summary>
    /// Writes the group's summary as its workspace: a revision of the current summary when there is one (history
    /// kept, the new version superseding the old), a new category-layer memory otherwise; summarizes edges from
    /// the new version to every member. Returns the summary's id.
    /// </summary>
    public static async Task<Guid> WriteSummaryAsync(NpgsqlConnection connection, ReflectionGroup group, Guid? current, string content,
        IReadOnlyList<GroupMember> members, JsonObject metadata, CancellationToken cancellationToken)
    {
        await using (var role = new NpgsqlCommand("SET LOCAL ROLE " + QuoteIdentifier(group.Workspace), connection))
            await role.ExecuteNonQueryAsync(cancellationToken);
        Guid id;
        var tags = group.Tag is { } tag ? new[] { "summary", tag } : ["summary"];
        // The version to revise: the group's summary or, when someone revised it since, its newest active version.
        Guid? head = null;
        if (current is { } summary)
        {
            await using var find = new NpgsqlCommand("""
                SELECT m.id FROM memory.versions($1) v JOIN memory.memories m ON m.id = v.memory_id
                WHERE m.status = 'active' ORDER BY v.version DESC LIMIT 1
                """, connection);
            find.Parameters.Add(new NpgsqlParameter { Value = summary });
            head = await find.ExecuteScalarAsync(cancellationToken) as Guid?;
        }
        if (head is { } revise)
        {
            await using var command = new NpgsqlCommand(
                "CALL memory.revise($1, $2, tags => $3, metadata => $4, reason => 'reflection: the group changed', new_id => NULL)", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = revise });
            command.Parameters.Add(new NpgsqlParameter { Value = content });
            command.Parameters.Add(new NpgsqlParameter { Value = tags });
            command.Parameters.Add(new NpgsqlParameter { Value = metadata.ToJsonString(), NpgsqlDbType = NpgsqlDbType.Jsonb });
            id = (Guid)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        else
        {
            await using var command = new NpgsqlCommand("""
                SELECT s.memory_id FROM memory.store($1, 'semantic', 'summary', NULL, $2, $3, $4, NULL, NULL, NULL, NULL, NULL, 'category',
                                                     NULL, NULL, NULL, NULL, false) s
                """, connection);
            command.Parameters.Add(new NpgsqlParameter { Value = content });
            command.Parameters.Add(new NpgsqlParameter { Value = tags });
            command.Parameters.Add(new NpgsqlParameter { Value = metadata.ToJsonString(), NpgsqlDbType = NpgsqlDbType.Jsonb });
            command.Parameters.Add(new NpgsqlParameter { Value = group.Entity });
            id = (Guid)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        await using (var edges = new NpgsqlCommand("""
            INSERT INTO memory.associations (source_id, target_id, relation, workspace)
            SELECT $1, t, 'summarizes', memory.current_workspace() FROM unnest($2::uuid[]) t WHERE t <> $1
            ON CONFLICT DO NOTHING
            """, connection))
        {
            edges.Parameters.Add(new NpgsqlParameter { Value = id });
            edges.Parameters.Add(new NpgsqlParameter { Value = members.Select(m => m.Id).ToArray() });
            await edges.ExecuteNonQueryAsync(cancellationToken);
        }
        await using (var reset = new NpgsqlCommand("RESET ROLE", connection)) await reset.ExecuteNonQueryAsync(cancellationToken);
        return id;
    }

    /// <summary>Forgets a group's summary (soft, audited) as its workspace, when the group fell below reflection.min_members.</summary>
    public static async Task ForgetSummaryAsync(NpgsqlConnection connection, ReflectionGroup group, Guid summary, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL ROLE " + QuoteIdentifier(group.Workspace)));
        var forget = new NpgsqlBatchCommand("CALL memory.forget($1, reason => 'reflection: the group has fewer members than reflection.min_members')");
        forget.Parameters.Add(new NpgsqlParameter { Value = summary });
        batch.BatchCommands.Add(forget);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("RESET ROLE"));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records the group as summarised (or emptied) and deletes the marks that were claimed.</summary>
    public static async Task CompleteAsync(NpgsqlConnection connection, ReflectionGroup group, long[] marks, Guid? summary, byte[]? fingerprint,
        int members, string? mode, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        var upsert = new NpgsqlBatchCommand("""
            INSERT INTO memory.reflection_groups AS g (workspace, entity, topic, summary_id, fingerprint, members, mode, state, attempts,
                                                       last_error, run_after, summarized_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'ok', 0, NULL, now(), CASE WHEN $4 IS NOT NULL THEN now() END, now())
            ON CONFLICT (workspace, entity, topic) DO UPDATE SET
              summary_id = excluded.summary_id, fingerprint = excluded.fingerprint, members = excluded.members,
              mode = coalesce(excluded.mode, g.mode), state = 'ok', attempts = 0, last_error = NULL, run_after = now(),
              summarized_at = coalesce(excluded.summarized_at, g.summarized_at), updated_at = now()
            """);
        AddGroup(upsert, group);
        upsert.Parameters.Add(new NpgsqlParameter { Value = (object?)summary ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
        upsert.Parameters.Add(new NpgsqlParameter { Value = (object?)fingerprint ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });
        upsert.Parameters.Add(new NpgsqlParameter { Value = members });
        upsert.Parameters.Add(new NpgsqlParameter { Value = (object?)mode ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        batch.BatchCommands.Add(upsert);
        batch.BatchCommands.Add(DeleteMarks(marks));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Drops the marks of a group that is not to be summarised (reflection disabled for the workspace).</summary>
    public static async Task DropMarksAsync(NpgsqlConnection connection, long[] marks, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(DeleteMarks(marks));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Counts a failed attempt on the group (its marks stay): attempts + 1, the error, a later run_after, 'failed' at the last attempt.</summary>
    public static async Task<string> RecordFailureAsync(NpgsqlConnection connection, ReflectionGroup group, string error, TimeSpan delay, int maxAttempts,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            INSERT INTO memory.reflection_groups AS g (workspace, entity, topic, state, attempts, last_error, run_after)
            VALUES ($1, $2, $3, CASE WHEN $6 <= 1 THEN 'failed' ELSE 'retry' END, 1, $4, now() + make_interval(secs => $5))
            ON CONFLICT (workspace, entity, topic) DO UPDATE SET
              attempts = g.attempts + 1, last_error = excluded.last_error, run_after = excluded.run_after,
              state = CASE WHEN g.attempts + 1 >= $6 THEN 'failed' ELSE 'retry' END, updated_at = now()
            RETURNING g.state
            """, connection);
        AddGroup(command, group);
        command.Parameters.Add(new NpgsqlParameter { Value = error.Length <= MaxErrorLength ? error : error[..MaxErrorLength] + "…" });
        command.Parameters.Add(new NpgsqlParameter { Value = delay.TotalSeconds });
        command.Parameters.Add(new NpgsqlParameter { Value = maxAttempts });
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public static async Task<(long Pending, long Failed)> QueueDepthAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT (SELECT count(*) FROM (SELECT DISTINCT workspace, entity, topic FROM memory.reflection_queue) d),
                   (SELECT count(*) FROM memory.reflection_groups WHERE state = 'failed')
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static NpgsqlBatchCommand DeleteMarks(long[] marks)
    {
        var delete = new NpgsqlBatchCommand("DELETE FROM memory.reflection_queue WHERE id = ANY($1)");
        delete.Parameters.Add(new NpgsqlParameter { Value = marks });
        return delete;
    }

    private static void AddGroup(NpgsqlCommand command, ReflectionGroup group)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = group.Workspace, NpgsqlDbType = NpgsqlDbType.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = group.Entity });
        command.Parameters.Add(new NpgsqlParameter { Value = group.Topic });
    }

    private static void AddGroup(NpgsqlBatchCommand command, ReflectionGroup group)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = group.Workspace, NpgsqlDbType = NpgsqlDbType.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = group.Entity });
        command.Parameters.Add(new NpgsqlParameter { Value = group.Topic });
    }

    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    internal static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
