using MemorySql.Testing;

namespace MemorySql.Workers.Tests;

/// <summary>Test data for the embed queue, written straight into the 0001 tables.</summary>
internal static class EmbedTestSchema
{
    /// <summary>
    /// memory.register_model(name, dimension, make_default) is the SQL API's (sql/085_admin.sql, another
    /// branch). Until it is in this database's schema, a stand-in with the documented contract (register,
    /// queue every active memory, NOTIFY; no index) is created here; once the real one exists this does nothing.
    /// </summary>
    public static async Task EnsureRegisterModelAsync(TestDatabase db)
    {
        var exists = await db.ScalarAsync<bool>("SELECT to_regprocedure('memory.register_model(text,integer,boolean)') IS NOT NULL");
        if (exists) return;
        await db.ExecuteAsync("""
            CREATE FUNCTION memory.register_model(p_name text, p_dimension integer, p_make_default boolean DEFAULT false)
            RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO memory.models (name, dimension) VALUES (p_name, p_dimension) ON CONFLICT (name) DO NOTHING;
              IF (SELECT dimension FROM memory.models WHERE name = p_name) <> p_dimension THEN
                RAISE EXCEPTION 'model % is registered with another dimension', p_name USING ERRCODE = '22023';
              END IF;
              INSERT INTO memory.embedding_queue (memory_id, model, workspace)
              SELECT m.id, p_name, m.workspace FROM memory.memories m
               WHERE m.status = 'active'
                 AND NOT EXISTS (SELECT 1 FROM memory.embeddings e WHERE e.memory_id = m.id AND e.model = p_name)
              ON CONFLICT DO NOTHING;
              IF p_make_default OR NOT EXISTS (SELECT 1 FROM memory.models WHERE is_default) THEN
                UPDATE memory.models SET is_default = (name = p_name) WHERE is_default OR name = p_name;
              END IF;
              PERFORM pg_notify('memory_embed', p_name);
            END $$
            """);
    }

    /// <summary>
    /// Empties the memory tables. register_model queues every active memory for a new model, so a test
    /// that registers its own model must not inherit the memories of the tests before it.
    /// </summary>
    public static Task ClearMemoriesAsync(TestDatabase db) =>
        db.ExecuteAsync("TRUNCATE memory.memories, memory.query_embeddings CASCADE");

    /// <summary>Inserts <paramref name="count"/> memories "&lt;prefix&gt; memory i about topic i%7" and queues them for <paramref name="model"/>; returns their ids in order.</summary>
    public static async Task<List<Guid>> InsertQueuedMemoriesAsync(TestDatabase db, string model, string prefix, int count,
        string workspace = "ws_test", string status = "active", string runAfter = "now()")
    {
        await db.ExecuteAsync("INSERT INTO memory.models (name, dimension) VALUES ($1, 384) ON CONFLICT DO NOTHING", model);
        var ids = new List<Guid>(count);
        await using var command = db.Admin.CreateCommand($"""
            WITH inserted AS (
              INSERT INTO memory.memories (workspace, content, content_hash, status)
              SELECT $1, $2 || ' memory ' || i || ' about topic ' || (i % 7), sha256(convert_to($2 || i::text, 'UTF8')), $4
              FROM generate_series(1, $3) AS i
              RETURNING id, workspace),
            queued AS (
              INSERT INTO memory.embedding_queue (memory_id, model, workspace, run_after)
              SELECT id, $5, workspace, {runAfter} FROM inserted
              RETURNING memory_id)
            SELECT memory_id FROM queued
            """);
        command.Parameters.Add(new() { Value = workspace });
        command.Parameters.Add(new() { Value = prefix });
        command.Parameters.Add(new() { Value = count });
        command.Parameters.Add(new() { Value = status });
        command.Parameters.Add(new() { Value = model });
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) ids.Add(reader.GetGuid(0));
        return ids;
    }

    public static Task<long> QueueCountAsync(TestDatabase db, string model, string state = "queued") =>
        db.ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE model = $1 AND state = $2", model, state);

    public static Task<long> EmbeddingCountAsync(TestDatabase db, string model) =>
        db.ScalarAsync<long>("SELECT count(*) FROM memory.embeddings WHERE model = $1", model);

    /// <summary>Waits until <paramref name="condition"/> holds; fails (never hangs) after a generous minute.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("gave up waiting: " + what);
            await Task.Delay(50);
        }
    }
}
