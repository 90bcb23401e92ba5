using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// Rewrites a first-person sentence about its speaker in the third person, so it stands on its own in memory:
/// "I'm allergic to peanuts" → "Dana is allergic to peanuts", "I usually fly from Lisbon" → "Dana usually flies
/// from Lisbon", "my sister visited me" → "Dana's sister visited Dana". The verb right after "I" (past an adverb
/// or two) agrees with the new subject; modals and past tenses stay as they are.
/// </summary>
internal static partial class FirstPerson
{
    [GeneratedRegex(@"[A-Za-z]+(?:['’][A-Za-z]+)?|\s+|[^A-Za-z\s]+")]
    private static partial Regex Token();

    internal static readonly FrozenSet<string> Singular = new[] { "i", "i'm", "i've", "i'll", "i'd", "me", "my", "mine", "myself" }.ToFrozenSet();
    internal static readonly FrozenSet<string> Plural = new[] { "we", "we're", "we've", "we'll", "we'd", "us", "our", "ours", "ourselves" }.ToFrozenSet();

    internal static readonly FrozenSet<string> Adverbs = new[]
    {
        "really", "also", "always", "never", "usually", "often", "sometimes", "just", "still", "actually", "definitely", "mostly",
        "absolutely", "totally", "generally", "rarely", "seriously", "truly", "honestly", "personally", "only", "even", "mainly",
        "primarily", "normally", "typically", "recently", "finally", "already", "currently", "now", "probably", "certainly",
        "kinda", "barely", "hardly", "occasionally", "frequently", "constantly", "secretly", "strongly", "much", "too",
    }.ToFrozenSet();

    private static readonly FrozenSet<string> Unchanged = new[]
    {
        "will", "would", "can", "could", "shall", "should", "may", "might", "must", "did", "didn't", "was", "wasn't", "won't",
        "wouldn't", "can't", "cannot", "couldn't", "shouldn't", "mustn't", "had", "hadn't", "ought", "used", "got", "went", "bought",
        "met", "saw", "made", "took", "came", "became", "began", "left", "lost", "won", "found", "gave", "ran", "wrote", "flew",
        "ate", "drove", "thought", "knew", "told", "said", "felt", "kept", "heard", "paid", "sold", "sent", "spent", "built",
        "taught", "caught", "brought", "fought", "held", "slept", "woke", "swam", "sang", "grew", "drew", "threw", "chose",
        "broke", "spoke", "forgot", "fell", "rode", "wore", "tore", "hid", "bit", "led", "fed", "read", "put", "set", "cut", "hit",
        "quit", "let", "shut", "hurt", "cost", "moved", "'d", "might've", "should've", "would've", "could've",
    }.ToFrozenSet();

    private static readonly FrozenDictionary<string, string> Irregular = new Dictionary<string, string>
    {
        ["am"] = "is", ["have"] = "has", ["haven't"] = "hasn't", ["do"] = "does", ["don't"] = "doesn't", ["were"] = "was",
        ["weren't"] = "wasn't", ["be"] = "is", ["go"] = "goes", ["ain't"] = "isn't", ["'m"] = "is",
    }.ToFrozenDictionary();

    /// <summary>Words after "I" that are not verbs: leave them alone.</summary>
    private static readonly FrozenSet<string> NotVerbs = new[]
    {
        "and", "or", "but", "the", "a", "an", "in", "on", "at", "to", "of", "for", "with", "from", "by", "as", "if", "when",
        "myself", "too", "personally", "alone", "guess", "mean",
    }.ToFrozenSet();

    /// <summary>Whether the sentence speaks of its speaker in the first person singular.</summary>
    public static bool IsSingular(IEnumerable<string> lowerWords) => lowerWords.Any(Singular.Contains);

    /// <summary>Whether it speaks in the first person plural only ("we", "our").</summary>
    public static bool IsPlural(IEnumerable<string> lowerWords) => lowerWords.Any(Plural.Contains);

    /// <summary>The lower-case words of a sentence, apostrophes normalised.</summary>
    public static List<string> Words(string sentence) =>
        [.. Token().Matches(sentence).Select(m => m.Value).Where(t => char.IsLetter(t[0])).Select(Normalize)];

    /// <summary>The sentence in the third person, <paramref name="name"/> (null: "the user") standing for the speaker.</summary>
    public static string Rewrite(string sentence, string? name)
    {
        var subject = name ?? "the user";
        var sb = new StringBuilder(sentence.Length + 32);
        var conjugateNext = false;
        foreach (Match match in Token().Matches(sentence))
        {
            var token = match.Value;
            if (!char.IsLetter(token[0]))
            {
                sb.Append(token);
                continue;
            }
            var lower = Normalize(token);
            switch (lower)
            {
                case "i":
                    sb.Append(subject);
                    conjugateNext = true;
                    continue;
                case "i'm":
                    sb.Append(subject).Append(" is");
                    break;
                case "i've":
                    sb.Append(subject).Append(" has");
                    break;
                case "i'll":
                    sb.Append(subject).Append(" will");
                    break;
                case "i'd":
                    sb.Append(subject).Append(" would");
                    break;
                case "me" or "myself":
                    sb.Append(subject);
                    break;
                case "my" or "mine":
                    sb.Append(subject).Append("'s");
                    break;
                default:
                    if (conjugateNext && Adverbs.Contains(lower))
                    {
                        sb.Append(token);
                        continue;
                    }
                    sb.Append(conjugateNext ? Conjugate(token, lower) : token);
                    break;
            }
            conjugateNext = false;
        }
        return Finish(sb.ToString());
    }

    /// <summary>The third person singular of the verb after "I".</summary>
    private static string Conjugate(string token, string lower)
    {
        if (Irregular.TryGetValue(lower, out var irregular)) return irregular;
        if (Unchanged.Contains(lower) || NotVerbs.Contains(lower) || IsPastTense(lower) || lower.Contains('\'', StringComparison.Ordinal))
            return token;
        if (lower.Length > 1 && lower[^1] == 'y' && !IsVowel(lower[^2])) return token[..^1] + "ies";
        if (lower.EndsWith('s') || lower.EndsWith("sh", StringComparison.Ordinal) || lower.EndsWith("ch", StringComparison.Ordinal)
            || lower.EndsWith('x') || lower.EndsWith('z') || lower.EndsWith('o'))
            return token + "es";
        return token + "s";
    }

    private static readonly FrozenSet<string> EndsWithEdButPresent = new[]
    {
        "need", "feed", "seed", "speed", "succeed", "proceed", "exceed", "bleed", "breed", "heed", "weed", "shed", "wed", "embed", "bed",
    }.ToFrozenSet();

    /// <summary>A regular past tense ("moved", "visited"), not a present that happens to end in -ed ("need").</summary>
    public static bool IsPastTense(string lower) =>
        lower.Length > 3 && lower.EndsWith("ed", StringComparison.Ordinal) && !EndsWithEdButPresent.Contains(lower);

    private static bool IsVowel(char c) => c is 'a' or 'e' or 'i' or 'o' or 'u';

    private static string Normalize(string word) => word.Replace('’', '\'').ToLowerInvariant();

    /// <summary>Capital first letter, one closing full stop (a "!" becomes one too; memories state, they do not exclaim).</summary>
    private static string Finish(string text)
    {
        var trimmed = text.Trim().TrimEnd('!', '.', ' ', ',', ';', ':');
        if (trimmed.Length == 0) return trimmed;
        return char.ToUpperInvariant(trimmed[0]) + trimmed[1..] + ".";
    }
}
