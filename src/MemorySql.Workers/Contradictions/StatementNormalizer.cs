using System.Text;
using System.Text.RegularExpressions;

namespace MemorySql.Workers.Contradictions;

/// <summary>
/// Turns an English statement into a <see cref="NormalizedStatement"/>: contractions expanded, phrases with
/// one meaning written one way ("moved to" = "lives in"), the subject (the entity's name, a leading pronoun)
/// replaced by a placeholder, negations removed and counted, articles and fillers dropped, words stemmed.
/// Deliberately small: docs/lifecycle.md lists what it does not understand.
/// </summary>
internal static partial class StatementNormalizer
{
    /// <summary>Stands for the subject of the statement (the entity, or a leading pronoun).</summary>
    public const string Subject = "@subj";

    private static readonly HashSet<string> Pronouns = new(StringComparer.Ordinal) { "i", "he", "she", "they", "we", "user", "you" };
    private static readonly HashSet<string> Possessives = new(StringComparer.Ordinal) { "my", "his", "her", "their", "our", "your" };
    private static readonly HashSet<string> Negations = new(StringComparer.Ordinal) { "not", "never", "no" };
    private static readonly HashSet<string> DoSupport = new(StringComparer.Ordinal) { "do", "does", "did" };
    private static readonly HashSet<string> Dropped = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "now", "currently", "still", "actually", "really", "also", "anymore", "recently", "today",
        "just", "definitely", "always", "usually", "often", "generally", "nowadays", "truly", "very",
    };
    private static readonly HashSet<string> Be = new(StringComparer.Ordinal) { "is", "am", "are", "was", "were", "be", "been", "being" };
    private static readonly HashSet<string> Have = new(StringComparer.Ordinal) { "has", "have", "had", "having" };

    // Phrases that say the same thing, rewritten to one form before tokens are compared (whole words, in order).
    private static readonly (string From, string To)[] Phrases =
    [
        ("no longer", "not"),
        ("any more", "anymore"),
        ("these days", "now"),
        ("has moved to", "lives in"),
        ("moved to", "lives in"),
        ("relocated to", "lives in"),
        ("resides in", "lives in"),
        ("is based in", "lives in"),
        ("is living in", "lives in"),
        ("is located in", "lives in"),
        ("works for", "works at"),
        ("is employed by", "works at"),
        ("is employed at", "works at"),
        ("favourite", "favorite"),
        ("colour", "color"),
        ("would rather have", "prefers"),
        ("cannot", "can not"),
    ];

    [GeneratedRegex(@"\bwon't\b")]
    private static partial Regex WontRegex();

    [GeneratedRegex(@"\bcan't\b")]
    private static partial Regex CantRegex();

    [GeneratedRegex(@"\b(\w+)n't\b")]
    private static partial Regex NotRegex();

    [GeneratedRegex(@"\b(he|she|it|that|there|what|who)'s\b")]
    private static partial Regex PronounIsRegex();

    [GeneratedRegex(@"'(re|m|ve|ll|d)\b")]
    private static partial Regex ContractionRegex();

    // A number with inner separators (3.5, 10:30, 2024-01-02, 1,200) or a word of letters and digits.
    [GeneratedRegex(@"\d+(?:[.,:/-]\d+)*|[\p{L}\p{N}]+")]
    private static partial Regex TokenRegex();

    public static NormalizedStatement Normalize(string text, string? entity)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lower = text.ToLowerInvariant().Replace('’', '\'').Replace('‘', '\'');
        lower = WontRegex().Replace(lower, "will not");
        lower = CantRegex().Replace(lower, "can not");
        lower = NotRegex().Replace(lower, "$1 not");
        lower = PronounIsRegex().Replace(lower, "$1 is");
        lower = ContractionRegex().Replace(lower, m => m.Groups[1].Value switch
        {
            "re" => " are",
            "m" => " am",
            "ve" => " have",
            "ll" => " will",
            _ => " would",
        });

        // Fillers go before the phrases are matched ("is currently based in" is "is based in"), and again
        // after (a phrase may produce one: "these days" → "now").
        var joined = new StringBuilder(" ");
        foreach (Match match in TokenRegex().Matches(lower))
        {
            if (!Dropped.Contains(match.Value)) joined.Append(match.Value).Append(' ');
        }
        var spaced = joined.ToString();
        foreach (var (from, to) in Phrases) spaced = spaced.Replace(" " + from + " ", " " + to + " ", StringComparison.Ordinal);
        var words = spaced.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !Dropped.Contains(w)).ToList();

        ReplaceSubject(words, entity);

        var tokens = new List<string>(words.Count);
        var negations = 0;
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            if (Negations.Contains(word))
            {
                negations++;
                // "does not like" → "like": the auxiliary only carried the negation.
                if (tokens.Count > 0 && tokens[^1] == "do" && i > 0 && DoSupport.Contains(words[i - 1])) tokens.RemoveAt(tokens.Count - 1);
                continue;
            }
            tokens.Add(Stem(word));
        }
        return new NormalizedStatement(tokens, negations % 2 == 1);
    }

    private static void ReplaceSubject(List<string> words, string? entity)
    {
        if (words.Count == 0) return;
        if (!string.IsNullOrWhiteSpace(entity))
        {
            var entityWords = TokenRegex().Matches(entity.ToLowerInvariant()).Select(m => m.Value).ToList();
            if (entityWords.Count > 0 && words.Count >= entityWords.Count && words.Take(entityWords.Count).SequenceEqual(entityWords, StringComparer.Ordinal))
            {
                words.RemoveRange(0, entityWords.Count);
                words.Insert(0, Subject);
                return;
            }
            if (entityWords.Count > 1 && words[0] == entityWords[0])
            {
                words[0] = Subject;
                return;
            }
        }
        if (Pronouns.Contains(words[0]))
        {
            words[0] = Subject;
        }
        else if (Possessives.Contains(words[0]))
        {
            words[0] = Subject;
            words.Insert(1, "s");
        }
    }

    /// <summary>A light English stemmer: forms of be/have/do unified, plural and third-person s removed.</summary>
    internal static string Stem(string word)
    {
        if (word == Subject || char.IsAsciiDigit(word[0])) return word;
        if (Be.Contains(word)) return "be";
        if (Have.Contains(word)) return "have";
        if (DoSupport.Contains(word)) return "do";
        if (word.Length <= 3) return word;
        if (word.EndsWith("ies", StringComparison.Ordinal) && word.Length > 4) return word[..^3] + "y";
        if (word.EndsWith("sses", StringComparison.Ordinal)) return word[..^2];
        if (word.EndsWith("ss", StringComparison.Ordinal) || word.EndsWith("us", StringComparison.Ordinal) || word.EndsWith("is", StringComparison.Ordinal)) return word;
        if (word.EndsWith("es", StringComparison.Ordinal) &&
            (word.EndsWith("shes", StringComparison.Ordinal) || word.EndsWith("ches", StringComparison.Ordinal) ||
             word.EndsWith("xes", StringComparison.Ordinal) || word.EndsWith("zes", StringComparison.Ordinal)))
            return word[..^2];
        if (word.EndsWith('s')) return word[..^1];
        return word;
    }
}
