using System.Collections.Frozen;

namespace MemorySql.Workers.Extraction;

/// <summary>
/// Splits a message into sentences: at line breaks, and after ".", "!", "?" (and "…") followed by white space,
/// except after common abbreviations ("Dr.", "e.g.", "a.m.") and single initials ("J. Smith").
/// </summary>
internal static class SentenceSplitter
{
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
