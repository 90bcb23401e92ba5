using MemorySql.Embeddings;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Workers.Embed;

/// <summary>
/// The embed worker's SQL against the contract of migrations/0001_init.sql and docs/architecture.md:
/// claiming memory.embedding_queue and memory.query_embeddings rows with FOR UPDATE SKIP LOCKED, writing
/// vectors, dequeuing, and recording failed attempts.
/// </summary>
internal sealed class EmbedStore
{
    private const int MaxErrorLength = 2000;

    private readonly string _model;
    private readonly int _dimension;
    private readonly VectorTransfer _transfer;

    public EmbedStore(string model, int dimension, VectorTransfer transfer)
    {
        _model = model;
        _dimension = dimension;
        _transfer = transfer;
    }

    /// <summary>Ready rows of this model whose memory still exists, locked until the transaction ends; rows other workers hold are skipped.</summary>
    public async Task<List<ClaimedMemory>> ClaimMemoriesAsync(NpgsqlConnection connection, int limit, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT q.memory_id, q.attempts, m.workspace, m.content, m.status = 'deleted'
            FROM memory.embedding_queue q
            JOIN memory.memories m ON m.id = q.memory_id
            WHERE q.model = $1 AND q.state = 'queued' AND q.run_after <= now()
            ORDER BY q.run_after
            LIMIT $2
            FOR UPDATE OF q SKIP LOCKED
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = _model });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var rows = new List<ClaimedMemory>(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(new ClaimedMemory(reader.GetGuid(0), reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4)));
        return rows;
    }

    /// <summary>Upserts the embeddings of <paramref name="embedded"/> and removes every row of <paramref name="dequeue"/> from the queue, in one round trip.</summary>
    public async Task WriteMemoriesAsync(NpgsqlConnection connection, IReadOnlyList<ClaimedMemory> embedded, float[][] vectors,
        IReadOnlyList<Guid> dequeue, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        if (embedded.Count > 0)
        {
            var ids = new Guid[embedded.Count];
            var workspaces = new string[embedded.Count];
            for (var i = 0; i < embedded.Count; i++)
            {
                ids[i] = embedded[i].Id;
                workspaces[i] = embedded[i].Workspace;
            }
            var insert = new NpgsqlBatchCommand(_transfer == VectorTransfer.Binary
                ? """
                  INSERT INTO memory.embeddings AS e (memory_id, model, workspace, embedding)
                  SELECT p.ids[i], $4, p.workspaces[i], p.vectors[(i - 1) * $5 + 1 : i * $5]::vector
                  FROM (SELECT $1::uuid[] AS ids, $2::name[] AS workspaces, $3::real[] AS vectors) p,
                       generate_subscripts($1::uuid[], 1) AS i
                  ON CONFLICT (memory_id, model) DO UPDATE
                    SET embedding = excluded.embedding, workspace = excluded.workspace, created_at = now()
                  """
                : """
                  INSERT INTO memory.embeddings AS e (memory_id, model, workspace, embedding)
                  SELECT u.id, $4, u.workspace, u.vector::vector
                  FROM unnest($1::uuid[], $2::name[], $3::text[]) AS u(id, workspace, vector)
                  ON CONFLICT (memory_id, model) DO UPDATE
                    SET embedding = excluded.embedding, workspace = excluded.workspace, created_at = now()
                  """);
            insert.Parameters.Add(new NpgsqlParameter { Value = ids });
            insert.Parameters.Add(new NpgsqlParameter { Value = workspaces, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            insert.Parameters.Add(VectorsParameter(vectors));
            insert.Parameters.Add(new NpgsqlParameter { Value = _model });
            if (_transfer == VectorTransfer.Binary) insert.Parameters.Add(new NpgsqlParameter { Value = _dimension });
            batch.BatchCommands.Add(insert);
        }
        var delete = new NpgsqlBatchCommand("DELETE FROM memory.embedding_queue WHERE model = $1 AND memory_id = ANY($2)");
        delete.Parameters.Add(new NpgsqlParameter { Value = _model });
        delete.Parameters.Add(new NpgsqlParameter { Value = dequeue.ToArray() });
        batch.BatchCommands.Add(delete);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Counts a failed attempt for each row: attempts + 1, the error, run_after pushed out by
    /// <paramref name="delayFor"/>, state 'failed' at <paramref name="maxAttempts"/>. A row another worker
    /// has meanwhile retried (attempts moved on) or finished (deleted) is left alone. Returns how many rows
    /// became 'failed'.
    /// </summary>
    public async Task<int> RecordMemoryFailuresAsync(NpgsqlConnection connection, IReadOnlyList<ClaimedMemory> rows, IReadOnlyList<RowFailure> failures,
        int maxAttempts, Func<int, TimeSpan> delayFor, CancellationToken cancellationToken)
    {
        var ids = new Guid[failures.Count];
        var attempts = new int[failures.Count];
        var errors = new string[failures.Count];
        var delays = new double[failures.Count];
        for (var i = 0; i < failures.Count; i++)
        {
            var row = rows[failures[i].Index];
            ids[i] = row.Id;
            attempts[i] = row.Attempts;
            errors[i] = Truncate(failures[i].Error);
            delays[i] = delayFor(row.Attempts + 1).TotalSeconds;
        }
        await using var command = new NpgsqlCommand("""
            WITH updated AS (
              UPDATE memory.embedding_queue q
              SET attempts = q.attempts + 1,
                  last_error = u.error,
                  run_after = now() + make_interval(secs => u.delay),
                  state = CASE WHEN q.attempts + 1 >= $6 THEN 'failed' ELSE 'queued' END,
                  updated_at = now()
              FROM unnest($2::uuid[], $3::int[], $4::text[], $5::float8[]) AS u(id, attempts, error, delay)
              WHERE q.model = $1 AND q.memory_id = u.id AND q.attempts = u.attempts AND q.state = 'queued'
              RETURNING q.state)
            SELECT count(*) FILTER (WHERE state = 'failed')::int FROM updated
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = _model });
        command.Parameters.Add(new NpgsqlParameter { Value = ids });
        command.Parameters.Add(new NpgsqlParameter { Value = attempts });
        command.Parameters.Add(new NpgsqlParameter { Value = errors, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = delays });
        command.Parameters.Add(new NpgsqlParameter { Value = maxAttempts });
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Recall texts of this model still without a vector and with attempts left, locked until the transaction ends.</summary>
    public async Task<List<ClaimedQuery>> ClaimQueriesAsync(NpgsqlConnection connection, int limit, int maxAttempts, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            SELECT workspace, query_hash, query, attempts
            FROM memory.query_embeddings
            WHERE model = $1 AND embedding IS NULL AND attempts < $2
            ORDER BY created_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = _model });
        command.Parameters.Add(new NpgsqlParameter { Value = maxAttempts });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var rows = new List<ClaimedQuery>(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            rows.Add(new ClaimedQuery(reader.GetString(0), reader.GetFieldValue<byte[]>(1), reader.GetString(2), reader.GetInt32(3)));
        return rows;
    }

    public async Task WriteQueriesAsync(NpgsqlConnection connection, IReadOnlyList<ClaimedQuery> rows, float[][] vectors, CancellationToken cancellationToken)
    {
        var (workspaces, hashes) = Keys(rows);
        await using var command = new NpgsqlCommand(_transfer == VectorTransfer.Binary
            ? """
              UPDATE memory.query_embeddings q
              SET embedding = p.vectors[(u.i - 1) * $5 + 1 : u.i * $5]::vector, last_error = NULL
              FROM (SELECT $3::real[] AS vectors) p,
                   unnest($1::name[], $2::bytea[]) WITH ORDINALITY AS u(workspace, query_hash, i)
              WHERE q.model = $4 AND q.workspace = u.workspace AND q.query_hash = u.query_hash
              """
            : """
              UPDATE memory.query_embeddings q
              SET embedding = u.vector::vector, last_error = NULL
              FROM unnest($1::name[], $2::bytea[], $3::text[]) AS u(workspace, query_hash, vector)
              WHERE q.model = $4 AND q.workspace = u.workspace AND q.query_hash = u.query_hash
              """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = workspaces, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = hashes });
        command.Parameters.Add(VectorsParameter(vectors));
        command.Parameters.Add(new NpgsqlParameter { Value = _model });
        if (_transfer == VectorTransfer.Binary) command.Parameters.Add(new NpgsqlParameter { Value = _dimension });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task RecordQueryFailuresAsync(NpgsqlConnection connection, IReadOnlyList<ClaimedQuery> rows, IReadOnlyList<RowFailure> failures, CancellationToken cancellationToken)
    {
        var selected = failures.Select(f => rows[f.Index]).ToList();
        var (workspaces, hashes) = Keys(selected);
        var attempts = selected.Select(r => r.Attempts).ToArray();
        var errors = failures.Select(f => Truncate(f.Error)).ToArray();
        await using var command = new NpgsqlCommand("""
            UPDATE memory.query_embeddings q
            SET attempts = q.attempts + 1, last_error = u.error
            FROM unnest($1::name[], $2::bytea[], $3::int[], $4::text[]) AS u(workspace, query_hash, attempts, error)
            WHERE q.model = $5 AND q.workspace = u.workspace AND q.query_hash = u.query_hash
              AND q.attempts = u.attempts AND q.embedding IS NULL
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = workspaces, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = hashes });
        command.Parameters.Add(new NpgsqlParameter { Value = attempts });
        command.Parameters.Add(new NpgsqlParameter { Value = errors, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = _model });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Rows of this model waiting ('queued') and given up ('failed').</summary>
    public async Task<(long Queued, long Failed)> QueueDepthAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'failed')
            FROM memory.embedding_queue WHERE model = $1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = _model });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private NpgsqlParameter VectorsParameter(float[][] vectors)
    {
        if (_transfer == VectorTransfer.Text)
        {
            var texts = new string[vectors.Length];
            for (var i = 0; i < vectors.Length; i++) texts[i] = VectorText.Format(vectors[i]);
            return new NpgsqlParameter { Value = texts, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };
        }
        var flat = new float[vectors.Length * _dimension];
        for (var i = 0; i < vectors.Length; i++) vectors[i].CopyTo(flat, i * _dimension);
        return new NpgsqlParameter { Value = flat, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Real };
    }

    private static (string[] Workspaces, byte[][] Hashes) Keys(IReadOnlyList<ClaimedQuery> rows)
    {
        var workspaces = new string[rows.Count];
        var hashes = new byte[rows.Count][];
        for (var i = 0; i < rows.Count; i++)
        {
            workspaces[i] = rows[i].Workspace;
            hashes[i] = rows[i].QueryHash;
        }
        return (workspaces, hashes);
    }

    private static string Truncate(string error) => error.Length <= MaxErrorLength ? error : error[..MaxErrorLength] + "…";
}
