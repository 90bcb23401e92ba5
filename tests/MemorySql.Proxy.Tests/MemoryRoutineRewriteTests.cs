using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>A proxy with an embedding provider in front of the real memory schema, with the provider's model registered.</summary>
public sealed class MemoryRewriteFixture : ProxyFixture
{
    public TestEmbeddings Embeddings { get; } = new();

    protected override MemorySql.Embeddings.IEmbeddingProvider? CreateEmbeddings() => Embeddings;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecuteAsync("SELECT memory.register_model('test-v1', 3, true)");
    }
}

/// <summary>The real routines, called through the proxy, receive the proxy's embeddings (no queueing, no lexical fallback).</summary>
public sealed class MemoryRoutineRewriteTests : IClassFixture<MemoryRewriteFixture>
{
    private readonly MemoryRewriteFixture _db;

    public MemoryRoutineRewriteTests(MemoryRewriteFixture db) => _db = db;

    [Fact]
    public async Task Remember_ThroughTheProxy_StoresTheEmbeddingAtOnce_AndRecallFindsIt()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using (var remember = new NpgsqlCommand("CALL remember('Dana prefers window seats')", conn))
            await remember.ExecuteNonQueryAsync();
        await using (var remember = new NpgsqlCommand("CALL remember($1)", conn))
        {
            remember.Parameters.AddWithValue("Lisbon is where Dana flies from");
            await remember.ExecuteNonQueryAsync();
        }
        await using (var stored = new NpgsqlCommand("SELECT count(*) FROM memory.embeddings WHERE model = 'test-v1'", conn))
            Assert.Equal(2L, await stored.ExecuteScalarAsync()); // embedded by the proxy, not queued for the worker
        await using (var queued = new NpgsqlCommand("SELECT count(*) FROM memory.embedding_queue WHERE model = 'test-v1'", conn))
            Assert.Equal(0L, await queued.ExecuteScalarAsync());

        await using var recall = new NpgsqlCommand("SELECT content FROM recall($1, k => 2)", conn);
        recall.Parameters.AddWithValue("Dana prefers window seats");
        await using var reader = await recall.ExecuteReaderAsync();
        var found = new List<string>();
        while (await reader.ReadAsync()) found.Add(reader.GetString(0));
        Assert.Contains("Dana prefers window seats", found);
    }
}
