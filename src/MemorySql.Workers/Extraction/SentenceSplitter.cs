using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// Splits a message into sentences: at line breaks, and after ".", "!", "?" (and "…") followed by white space,
/// except after common abbreviations ("Dr.", "e.g.", "a.m.") and single initials ("J. Smith").
/// </summary>
internal static partial class SentenceSplitter
{
    // "…, and I …", "… but I'm …": a coordinated clause with its own first-person subject states a fact of its own.
    [GeneratedRegex(@"(?:\s*[,;]\s*|\s+)(?:and|but|and also|and now)\s+(?=[Ii]\b)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex FirstPersonConjunction();

    private static readonly FrozenSet<string> Abbreviations = new[]
    {
        "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "eg", "ie", "a.m", "p.m", "am", "pm",
        "u.s", "u.k", "no", "inc", "ltd", "co", "corp", "mt", "ft", "approx", "dept", "est", "jan", "feb", "mar", "apr", "jun",
        "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "ave", "rd", "blvd",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public static List<string> Split(string text)
    {
        var sentences = new List<string>();
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.Trim().TrimStart('-', '*', '•', '>').Trim();
            var start = 0;
            for (var i = 0; i < line.Length; i++)
            {
                var c = line[i];
                if (c is not ('.' or '!' or '?' or '…')) continue;
                // Runs of terminators ("?!", "...") end together; closing quotes and brackets stay with the sentence.
                var end = i;
                while (end + 1 < line.Length && line[end + 1] is '.' or '!' or '?' or '…' or '"' or '\'' or ')' or '”' or '’') end++;
                if (end + 1 < line.Length && !char.IsWhiteSpace(line[end + 1])) { i = end; continue; }
                if (c == '.' && IsAbbreviation(line, start, i)) { i = end; continue; }
                Add(sentences, line[start..(end + 1)]);
                start = end + 1;
                i = end;
            }
            if (start < line.Length) Add(sentences, line[start..]);
        }
        return sentences;
    }

    /// <summary>
    /// A sentence's independent clauses that have their own first-person subject ("I live in Lisbon and I work as a
    /// nurse" → two), so that each fact can be deduplicated, contradicted and superseded on its own. Clauses that
    /// share the subject ("I have two cats and a dog") or have another one ("… and my sister has a dog") stay whole.
    /// </summary>
    public static IEnumerable<string> Clauses(string sentence)
    {
        var clauses = new List<string>();
        var start = 0;
        var conjunctions = FirstPersonConjunction().Matches(sentence);
        for (var i = 0; i < conjunctions.Count; i++)
        {
            var conjunction = conjunctions[i];
            var next = i + 1 < conjunctions.Count ? conjunctions[i + 1].Index : sentence.Length;
            // "… my new doctor and I like her": a clause that points back into the one before stays with it.
            if (PointsBack().IsMatch(sentence.AsSpan(conjunction.Index + conjunction.Length, next - conjunction.Index - conjunction.Length))) continue;
            Add(clauses, sentence[start..conjunction.Index]);
            start = conjunction.Index + conjunction.Length;
        }
        Add(clauses, sentence[start..]);
        return clauses;
    }

    [GeneratedRegex(@"\b(?:her|him|it|its|them|this|that|these|those|there|one)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PointsBack();

    private static bool IsAbbreviation(string line, int start, int dot)
    {
        var wordStart = dot;
        while (wordStart > start && !char.IsWhiteSpace(line[wordStart - 1])) wordStart--;
        var word = line[wordStart..dot].TrimStart('(', '"', '\'');
        if (word.Length == 1 && char.IsLetter(word[0]) && char.IsUpper(word[0]) && word != "I") return true; // an initial
        return Abbreviations.Contains(word);
    }

    private static void Add(List<string> sentences, string sentence)
    {
        var trimmed = sentence.Trim();
        if (trimmed.Length > 0) sentences.Add(trimmed);
    }
}
