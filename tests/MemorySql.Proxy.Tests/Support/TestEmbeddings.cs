using MemorySql.Embeddings;

namespace MemorySql.Proxy.Tests.Support;

/// <summary>
/// A deterministic embedding provider for the rewrite tests: 3 dimensions derived from the text, so a test can
/// compute the exact vector it expects. It can be told to fail or to stall (for cancel tests).
/// </summary>
public sealed class TestEmbeddings : IEmbeddingProvider
{
    public string Model => "test-v1";
    public int Dimension => 3;

    /// <summary>When set, every call throws this.</summary>
    public Exception? Failure { get; set; }

    /// <summary>When set, every call waits this long (cancellable) before answering.</summary>
    public TimeSpan Delay { get; set; }

    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public async ValueTask<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        if (Delay > TimeSpan.Zero) await Task.Delay(Delay, cancellationToken);
        if (Failure is not null) throw Failure;
        return texts.Select(Vector).ToArray();
    }

    public static float[] Vector(string text) => [text.Length, text.Count(c => c == 'a'), 1];

    public static string VectorText(string text) => Embeddings.VectorText.Format(Vector(text));
}

/// <summary>
/// A proxy with an embedding provider, in front of a database with a probe routine named like a memory routine:
/// <c>recall(query text, k int, _embedding vector, _model text)</c> in schema <c>probe</c>, which returns what it
/// received, so a test sees exactly what the rewrite passed. Connect with search_path=probe,public.
/// </summary>
public sealed class RewriteProxyFixture : ProxyFixture
{
    public TestEmbeddings Embeddings { get; } = new();

    protected override MemorySql.Embeddings.IEmbeddingProvider? CreateEmbeddings() => Embeddings;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecuteAsync("""
            CREATE SCHEMA probe;
            CREATE FUNCTION probe.recall(query text, k int DEFAULT 5, _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
            RETURNS text LANGUAGE sql AS $$ SELECT coalesce(_model, 'none') || '|' || coalesce(_embedding::text, 'none') || '|' || query || '|' || k $$;
            GRANT USAGE ON SCHEMA probe TO PUBLIC;
            """);
    }

    public Task<Npgsql.NpgsqlConnection> OpenProbeAsync(string extra = "") =>
        OpenProxyAsync("Pooling=false;Options=-c search_path=probe,public;" + extra);
}
