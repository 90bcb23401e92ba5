namespace MemorySql.Embeddings.Builtin;

/// <summary>
/// Everything that decides the builtin model's vectors besides the code: which features, their weights
/// and limits. A spec is a model version: stored vectors are only comparable with vectors of the same
/// spec, so tuning means adding a new spec with a new name (builtin-v2, …) and keeping the old one
/// available, never editing a published one. <see cref="BuiltinModels"/> lists the published specs.
/// </summary>
internal sealed record BuiltinFeatureSpec
{
    /// <summary>The model name at the default dimension, e.g. "builtin-v1".</summary>
    public required string Name { get; init; }

    public int DefaultDimension { get; init; } = 384;

    /// <summary>Weight of the stemmed-word group (each group is L2-normalised before weighting).</summary>
    public float UnigramWeight { get; init; } = 1.0f;

    /// <summary>Weight of the adjacent content-word pairs group (word order, phrases).</summary>
    public float BigramWeight { get; init; } = 0.5f;

    /// <summary>Weight of the character n-gram group (inflections, compounds, typos).</summary>
    public float CharGramWeight { get; init; } = 0.6f;

    /// <summary>
    /// Weight of the concept group: the WordNet synsets each content word names (<see cref="WordNetConcepts"/>),
    /// so synonyms and related forms share features. 0 (builtin-v1) leaves the group out.
    /// </summary>
    public float ConceptWeight { get; init; }

    /// <summary>Character n-gram lengths, counted with the word's '&lt;' and '&gt;' boundary markers.</summary>
    public int MinCharGram { get; init; } = 3;
    public int MaxCharGram { get; init; } = 5;

    /// <summary>Only the first this-many characters of a word give character n-grams (bounds the cost of URLs and hashes).</summary>
    public int MaxCharGramWordLength { get; init; } = 24;

    /// <summary>Longer tokens are cut to this many UTF-16 characters.</summary>
    public int MaxTokenLength { get; init; } = 48;

    public bool Stem { get; init; } = true;
    public bool DropStopwords { get; init; } = true;

    /// <summary>The stored model name at a dimension: the plain name at the default, "-d&lt;n&gt;" appended otherwise.</summary>
    public string ModelNameFor(int dimension) =>
        dimension == DefaultDimension ? Name : $"{Name}-d{dimension.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>The published builtin model versions.</summary>
internal static class BuiltinModels
{
    public static readonly BuiltinFeatureSpec V1 = new() { Name = "builtin-v1" };

    /// <summary>v1's lexical features plus WordNet concepts (synonyms, hypernyms, derivations).</summary>
    public static readonly BuiltinFeatureSpec V2 = new() { Name = "builtin-v2", ConceptWeight = 1.0f };

    public static BuiltinFeatureSpec Latest => V2;

    private static readonly BuiltinFeatureSpec[] Published = [V1, V2];

    /// <summary>Finds a published spec by its base name ("builtin-v1", "builtin-v2").</summary>
    public static BuiltinFeatureSpec? Find(string name) =>
        Published.FirstOrDefault(s => string.Equals(name, s.Name, StringComparison.OrdinalIgnoreCase));
}
