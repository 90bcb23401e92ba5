using System.IO.Compression;
using System.Text;

namespace MemorySql.Embeddings.Builtin;

/// <summary>One concept (WordNet synset) a word names, with how strongly (0–1).</summary>
internal readonly record struct Concept(int Id, float Weight);

/// <summary>
/// The concept table of the builtin model from builtin-v2 on: for each English word, the WordNet 3.0
/// synsets it names (its most frequent senses, their hypernyms, and the synsets derivationally related
/// to its first sense), so "car" and "automobile", or "paint" and "painting", share features that no
/// lexical hash can give them. Generated at build time from WordNet's database by
/// tools/MemorySql.WordNetResource (scripts/generate-wordnet.sh) into an embedded resource; loaded once,
/// on first use. Lookups do not allocate.
/// </summary>
internal sealed class WordNetConcepts
{
    private const string ResourceName = "MemorySql.Embeddings.wordnet-concepts.bin";
    private static readonly Lazy<WordNetConcepts> Shared = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Dictionary<string, (int Start, int Count)>.AlternateLookup<ReadOnlySpan<char>> _words;
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _irregular;
    private readonly Concept[] _concepts;

    private WordNetConcepts(Dictionary<string, (int, int)> words, Dictionary<string, string> irregular, Concept[] concepts)
    {
        _words = words.GetAlternateLookup<ReadOnlySpan<char>>();
        _irregular = irregular.GetAlternateLookup<ReadOnlySpan<char>>();
        _concepts = concepts;
        Words = words.Count;
    }

    public static WordNetConcepts Instance => Shared.Value;

    public int Words { get; }

    /// <summary>
    /// The concepts of a lower-case word: its own (<paramref name="own"/>, when WordNet lists the form) and
    /// those of its base form (<paramref name="lemma"/>): the irregular base ("chose" → "choose", "made" →
    /// "make") or the first of WordNet's regular inflection rules that gives a known word ("paintings" →
    /// "painting", "tries" → "try"). Either may be empty; false when both are.
    /// </summary>
    public bool Lookup(ReadOnlySpan<char> word, out ReadOnlySpan<Concept> own, out ReadOnlySpan<Concept> lemma)
    {
        own = default;
        lemma = default;
        if (word.Length < 2) return false;
        if (_words.TryGetValue(word, out var hit)) own = _concepts.AsSpan(hit.Start, hit.Count);
        if (_irregular.TryGetValue(word, out var irregular) && _words.TryGetValue(irregular, out hit))
        {
            lemma = _concepts.AsSpan(hit.Start, hit.Count);
            return true;
        }
        Span<char> candidate = stackalloc char[word.Length + 2];
        foreach (var (suffix, replacement) in Detachments)
        {
            if (!word.EndsWith(suffix, StringComparison.Ordinal) || word.Length - suffix.Length < 2) continue;
            var stem = word[..^suffix.Length];
            stem.CopyTo(candidate);
            replacement.AsSpan().CopyTo(candidate[stem.Length..]);
            if (_words.TryGetValue(candidate[..(stem.Length + replacement.Length)], out hit))
            {
                lemma = _concepts.AsSpan(hit.Start, hit.Count);
                break;
            }
        }
        return !own.IsEmpty || !lemma.IsEmpty;
    }

    /// <summary>WordNet's "morphy" detachment rules (nouns, verbs, adjectives), most specific first.</summary>
    private static readonly (string Suffix, string Replacement)[] Detachments =
    [
        ("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("zes", "z"), ("men", "man"),
        ("es", "e"), ("es", ""), ("s", ""), ("ied", "y"), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""),
        ("est", "e"), ("est", ""), ("er", "e"), ("er", ""),
    ];

    private static WordNetConcepts Load()
    {
        using var stream = typeof(WordNetConcepts).Assembly.GetManifestResourceStream(ResourceName)
                           ?? throw new InvalidOperationException($"the builtin model's concept table ({ResourceName}) is missing from {typeof(WordNetConcepts).Assembly.GetName().Name}");
        using var brotli = new BrotliStream(stream, CompressionMode.Decompress);
        using var reader = new BinaryReader(brotli, Encoding.UTF8);
        if (!reader.ReadBytes(5).AsSpan().SequenceEqual("MSWN1"u8))
            throw new InvalidOperationException($"{ResourceName} is not a concept table of this version");
        var count = reader.ReadInt32();
        var words = new Dictionary<string, (int, int)>(count, StringComparer.Ordinal);
        var concepts = new List<Concept>(count * 8);
        for (var i = 0; i < count; i++)
        {
            var word = reader.ReadString();
            int n = reader.ReadByte();
            words[word] = (concepts.Count, n);
            for (var c = 0; c < n; c++) concepts.Add(new Concept(reader.Read7BitEncodedInt(), reader.ReadByte() / 100f));
        }
        var irregularCount = reader.ReadInt32();
        var irregular = new Dictionary<string, string>(irregularCount, StringComparer.Ordinal);
        for (var i = 0; i < irregularCount; i++) irregular[reader.ReadString()] = reader.ReadString();
        return new WordNetConcepts(words, irregular, [.. concepts]);
    }
}
