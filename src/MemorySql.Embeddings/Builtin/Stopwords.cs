using System.Collections.Frozen;

namespace MemorySql.Embeddings.Builtin;

/// <summary>
/// English function words that carry little meaning for retrieval. Deliberately small: negations
/// ("not", "no", "never") and pronouns that name who something is about ("he", "she", "they") stay in,
/// because "Dana does not fly" and "Dana flies" should not look identical. Part of the model: changing
/// the list changes the vectors.
/// </summary>
internal static class Stopwords
{
    private static readonly FrozenSet<string> Words = FrozenSet.Create(StringComparer.Ordinal,
    [
        "a", "an", "the", "and", "or", "but", "if", "then", "so", "as", "of", "at", "by", "for", "with",
        "about", "into", "onto", "from", "to", "in", "on", "up", "out", "off", "over", "under", "again",
        "further", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each",
        "few", "more", "most", "other", "some", "such", "only", "own", "same", "than", "too", "very",
        "can", "will", "just", "should", "would", "could", "now", "is", "are", "was", "were", "be", "been",
        "being", "have", "has", "had", "having", "do", "does", "did", "doing", "i", "me", "my", "myself",
        "we", "us", "our", "ours", "you", "your", "yours", "it", "its", "itself", "this", "that", "these",
        "those", "am", "what", "which", "who", "whom", "whose", "also", "yet", "via", "per", "s", "t",
    ]);

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Lookup =
        Words.GetAlternateLookup<ReadOnlySpan<char>>();

    public static bool Contains(ReadOnlySpan<char> word) => word.Length <= 8 && Lookup.Contains(word);
}
