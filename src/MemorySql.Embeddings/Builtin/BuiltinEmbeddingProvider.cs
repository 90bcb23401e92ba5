using System.Globalization;
using MemorySql.Embeddings.Builtin;

namespace MemorySql.Embeddings;

/// <summary>
/// The offline, deterministic default provider ("builtin-v2"): lexical features (stemmed words, word
/// pairs, character n-grams) and, from v2 on, WordNet concepts (the synsets a word names, their
/// hypernyms and derivations, from a table built into the assembly), hashed into a fixed dimension. No
/// download, no network, thread-safe, and the same text gives the same vector on every machine.
/// "builtin-v1" (lexical features only) stays available (Embeddings:Builtin:Model).
/// </summary>
public sealed class BuiltinEmbeddingProvider : IEmbeddingProvider
{
    /// <summary>The current builtin model at its default dimension.</summary>
    public const string DefaultModel = "builtin-v2";
    public const int DefaultDimension = 384;
    public const int MinDimension = 32;
    /// <summary>pgvector's HNSW index handles at most 2000 dimensions.</summary>
    public const int MaxDimension = 2000;

    private readonly BuiltinFeatureSpec _spec;

    /// <summary>The latest builtin model at <paramref name="dimension"/>; a non-default dimension is part of the model name ("builtin-v2-d256").</summary>
    public BuiltinEmbeddingProvider(int dimension = DefaultDimension) : this(BuiltinModels.Latest, dimension) { }

    internal BuiltinEmbeddingProvider(BuiltinFeatureSpec spec, int dimension)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (dimension is < MinDimension or > MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension,
                string.Create(CultureInfo.InvariantCulture, $"the builtin embedding dimension must be between {MinDimension} and {MaxDimension}"));
        _spec = spec;
        Dimension = dimension;
        Model = spec.ModelNameFor(dimension);
    }

    public string Model { get; }
    public int Dimension { get; }

    public ValueTask<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EmbeddingInput.Validate(Model, texts);
        var vectors = new float[texts.Count][];
        for (var i = 0; i < vectors.Length; i++)
        {
            if ((i & 63) == 63) cancellationToken.ThrowIfCancellationRequested();
            vectors[i] = Embed(texts[i]);
        }
        return ValueTask.FromResult(vectors);
    }

    /// <summary>Embeds one text into a new unit vector.</summary>
    public float[] Embed(ReadOnlySpan<char> text)
    {
        var vector = new float[Dimension];
        Embed(text, vector);
        return vector;
    }

    /// <summary>Embeds one text into <paramref name="destination"/> (exactly <see cref="Dimension"/> long) without allocating.</summary>
    public void Embed(ReadOnlySpan<char> text, Span<float> destination)
    {
        if (destination.Length != Dimension)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"the destination has {destination.Length} elements; {Model} writes {Dimension}"), nameof(destination));
        if (!BuiltinFeaturizer.TryEmbed(text, _spec, destination))
            throw new EmbeddingException(Model, $"cannot embed an empty or whitespace text with {Model}; an embedding needs at least one non-space character", isTransient: false);
    }
}
