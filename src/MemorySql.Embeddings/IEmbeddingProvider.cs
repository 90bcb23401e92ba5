namespace MemorySql.Embeddings;

/// <summary>
/// Turns texts into L2-normalised vectors. Implementations name their model and its dimension; the
/// model name is stored with every embedding, so two providers must never share a name unless they
/// produce the same vectors.
/// </summary>
public interface IEmbeddingProvider
{
    /// <summary>The model name stored with each embedding, e.g. "builtin-v1" or "text-embedding-3-small".</summary>
    string Model { get; }

    /// <summary>The length of every vector this provider returns.</summary>
    int Dimension { get; }

    /// <summary>
    /// Embeds a batch: one vector per text, in the same order. Throws <see cref="EmbeddingException"/>
    /// when the provider fails after its own retries; never returns a partial batch.
    /// </summary>
    ValueTask<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken);
}
