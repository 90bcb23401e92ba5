using MemorySql.Embeddings;
using MemorySql.Testing;

namespace MemorySql.Workers.Tests.Lifecycle;

/// <summary>Writes memories the way the proxy does (remember with the builtin model's vector), and reads back what the workers did.</summary>
internal static class LifecycleData
{
    public const string Model = "builtin-v1";
    private static readonly BuiltinEmbeddingProvider Embedder = new();

    /// <summary>Registers builtin-v1 as the default model (with its HNSW index), as the embed worker does at start.</summary>
    public static Task RegisterModelAsync(TestDatabase db) => db.ExecuteAsync("SELECT memory.register_model('builtin-v1', 384, true)");

    public static Task<Guid> RememberAsync(TestRole ws, string content, string? entity = "dana", string extra = "") =>
        ws.ScalarAsync<Guid>($"SELECT memory_id FROM memory.store($1, entity => $2{extra}, _embedding => $3::real[]::vector, _model => 'builtin-v1')",
            content, entity, Embedder.Embed(content));

    public static async Task<string> StatusAsync(TestDatabase db, Guid id) =>
        (await db.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", id))!;

    public static Task<long> QueuedChecksAsync(TestDatabase db, string workspace) =>
        db.ScalarAsync<long>("SELECT count(*) FROM memory.check_queue WHERE workspace = $1", workspace);

    public static Task<long> EventsAsync(TestDatabase db, string workspace, string action) =>
        db.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE workspace = $1 AND action = $2", workspace, action);

    /// <summary>Waits until the workspace has nothing left in the check queue (failed rows excepted).</summary>
    public static Task DrainedAsync(TestDatabase db, string workspace) =>
        EmbedTestSchema.EventuallyAsync(async () =>
            await db.ScalarAsync<long>("SELECT count(*) FROM memory.check_queue WHERE workspace = $1 AND state = 'queued'", workspace) == 0,
            "check queue of " + workspace + " drained");
}
