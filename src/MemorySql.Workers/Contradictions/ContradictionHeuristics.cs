using System.Globalization;

namespace MemorySql.Workers.Contradictions;

/// <summary>
/// The offline contradiction judge: rules over <see cref="NormalizedStatement"/>s, each with a fixed
/// confidence (docs/lifecycle.md, "Heuristics"). Strong rules (confidence ≥ 0.8) settle a conflict on their
/// own under the default policy; weak ones (below 0.75) open a case for review.
/// <list type="bullet">
/// <item>Negation: the same statement affirmed in one and denied in the other (0.9); nearly the same, one word apart (0.6).</item>
/// <item>Opposites: the same frame with one word swapped for its opposite (likes/hates, available/unavailable) (0.85).</item>
/// <item>Changed value: the same subject and predicate with a different number, date or time (0.8; not between two events).</item>
/// <item>Changed value of a single-valued predicate (lives in, works at, prefers, favorite …, name, email …) (0.8).</item>
/// <item>"X is A" against "X is B", short A and B (0.55: often both hold, e.g. tall and a doctor).</item>
/// </list>
/// Everything else is unrelated: "likes sushi" and "likes ramen" can both be true.
/// </summary>
internal static class ContradictionHeuristics
{
    public const string Method = "heuristic";

    public const double NegationConfidence = 0.9;
    public const double OppositeConfidence = 0.85;
    public const double ValueConfidence = 0.8;
    public const double NearNegationConfidence = 0.6;
    public const double CopulaConfidence = 0.55;

    // Predicates that hold one value at a time, as stemmed word sequences; matched in the words just before the changed value.
    private static readonly string[][] SingleValued =
    [
        ["live", "in"], ["work", "at"], ["work", "as"], ["prefer"], ["favorite"], ["married", "to"], ["born", "in"],
        ["name"], ["email"], ["phone"], ["address"], ["birthday"], ["age"], ["timezone"], ["time", "zone"], ["salary"],
        ["title"], ["role"], ["manager"], ["boss"], ["nationality"], ["diet"], ["hometown"], ["drive"], ["wear"],
        ["allergic", "to"], ["main"], ["primary"], ["default"], ["usual"], ["current"], ["budget"], ["deadline"],
    ];

    private static readonly (string, string)[] Opposites =
    [
        ("like", "hate"), ("like", "dislike"), ("love", "hate"), ("love", "dislike"), ("enjoy", "hate"), ("enjoy", "dislike"),
        ("like", "avoid"), ("love", "avoid"), ("prefer", "avoid"), ("accept", "reject"), ("allow", "forbid"),
        ("allowed", "forbidden"), ("true", "false"), ("yes", "no"), ("agree", "disagree"), ("open", "closed"),
        ("win", "lose"), ("won", "lost"), ("pass", "fail"), ("passed", "failed"), ("single", "married"), ("alive", "dead"),
        ("include", "exclude"), ("present", "absent"), ("on", "off"), ("trust", "distrust"), ("approve", "reject"),
        ("approved", "rejected"), ("confirmed", "cancelled"), ("confirmed", "canceled"), ("active", "inactive"),
    ];

    private static readonly string[] OppositePrefixes = ["un", "dis", "in", "im", "ir", "non"];

    private static readonly HashSet<string> ValueWords = new(StringComparer.Ordinal)
    {
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
        "thirty", "forty", "fifty", "hundred", "thousand", "million", "half", "dozen",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "am", "pm", "noon", "midnight", "morning", "afternoon", "evening", "night", "tomorrow", "yesterday", "week", "month", "year",
    };

    public static Judgement Judge(StatementPair pair)
    {
        ArgumentNullException.ThrowIfNull(pair);
        var older = StatementNormalizer.Normalize(pair.Older, pair.Entity);
        var newer = StatementNormalizer.Normalize(pair.Newer, pair.Entity);
        return Judge(older, newer, pair.Episodic);
    }

    public static Judgement Judge(NormalizedStatement older, NormalizedStatement newer, bool episodic)
    {
        ArgumentNullException.ThrowIfNull(older);
        ArgumentNullException.ThrowIfNull(newer);
        var a = older.Tokens;
        var b = newer.Tokens;
        if (a.Count == 0 || b.Count == 0) return Judgement.Unrelated(Method, "nothing to compare");

        if (a.SequenceEqual(b, StringComparer.Ordinal))
        {
            return older.Negated == newer.Negated
                ? Judgement.Unrelated(Method, "the same statement")
                : Conflict(ContradictionVerdict.Contradicts, NegationConfidence,
                    $"negation: \"{string.Join(' ', a)}\" is {(older.Negated ? "denied" : "affirmed")} in the older memory and {(newer.Negated ? "denied" : "affirmed")} in the newer");
        }
        if (older.Negated != newer.Negated)
        {
            return TokenDistance(a, b) <= 1 && Math.Min(a.Count, b.Count) >= 2
                ? Conflict(ContradictionVerdict.Contradicts, NearNegationConfidence,
                    $"negation with one word of difference: \"{older}\" against \"{newer}\"")
                : Judgement.Unrelated(Method, "one statement is negative, but about something else");
        }
        if (older.Negated)
            return Judgement.Unrelated(Method, "both statements are negative: denying two things is no conflict");

        var prefix = 0;
        while (prefix < a.Count && prefix < b.Count && a[prefix] == b[prefix]) prefix++;
        var suffix = 0;
        while (suffix < a.Count - prefix && suffix < b.Count - prefix && a[^(suffix + 1)] == b[^(suffix + 1)]) suffix++;
        var midA = a.Skip(prefix).Take(a.Count - prefix - suffix).ToList();
        var midB = b.Skip(prefix).Take(b.Count - prefix - suffix).ToList();
        if (prefix == 0)
            return Judgement.Unrelated(Method, "no common subject at the start");
        if (midA.Count == 0 || midB.Count == 0)
            return Judgement.Unrelated(Method, "one adds detail to the other");
        if (midA.Count > 4 || midB.Count > 4)
            return Judgement.Unrelated(Method, "they differ in too much to be one changed value");

        var was = string.Join(' ', midA);
        var now = string.Join(' ', midB);
        if (midA.Count == 1 && midB.Count == 1 && AreOpposites(midA[0], midB[0]))
            return Conflict(ContradictionVerdict.Contradicts, OppositeConfidence, $"opposites: \"{was}\" against \"{now}\"");
        if (!episodic && IsValue(midA) && IsValue(midB))
            return Conflict(ContradictionVerdict.Updates, ValueConfidence, $"changed value: \"{was}\" → \"{now}\"");
        var before = a.Take(prefix).Skip(Math.Max(0, prefix - 4)).ToList();
        if (SingleValued.FirstOrDefault(p => ContainsRun(before, p)) is { } predicate)
            return Conflict(ContradictionVerdict.Updates, ValueConfidence, $"\"{string.Join(' ', predicate)}\" holds one value: \"{was}\" → \"{now}\"");
        if (!episodic && before[^1] == "be" && midA.Count <= 2 && midB.Count <= 2)
            return Conflict(ContradictionVerdict.Contradicts, CopulaConfidence, $"\"is {was}\" against \"is {now}\" (both may hold)");
        return Judgement.Unrelated(Method, $"\"{was}\" and \"{now}\" can both hold");
    }

    private static Judgement Conflict(ContradictionVerdict verdict, double confidence, string reason) =>
        new(verdict, CurrentSide.Newer, confidence, reason, Method);

    private static bool AreOpposites(string x, string y)
    {
        foreach (var (p, q) in Opposites)
        {
            if ((x == p && y == q) || (x == q && y == p)) return true;
        }
        foreach (var prefix in OppositePrefixes)
        {
            if (x.Length > 2 && y == prefix + x) return true;
            if (y.Length > 2 && x == prefix + y) return true;
        }
        return false;
    }

    private static bool IsValue(List<string> words) => words.All(w =>
        char.IsAsciiDigit(w[0]) || ValueWords.Contains(w) || IsOrdinal(w));

    private static bool IsOrdinal(string word) =>
        word.Length > 2 && char.IsAsciiDigit(word[0]) && (word.EndsWith("st", StringComparison.Ordinal) || word.EndsWith("nd", StringComparison.Ordinal) ||
                                                           word.EndsWith("rd", StringComparison.Ordinal) || word.EndsWith("th", StringComparison.Ordinal)) &&
        int.TryParse(word.AsSpan(0, word.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    private static bool ContainsRun(List<string> words, string[] run)
    {
        for (var i = 0; i + run.Length <= words.Count; i++)
        {
            var match = true;
            for (var j = 0; j < run.Length && match; j++) match = words[i + j] == run[j];
            if (match) return true;
        }
        return false;
    }

    /// <summary>Levenshtein distance over words, stopping early above 1 (all the caller needs).</summary>
    private static int TokenDistance(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        if (Math.Abs(a.Count - b.Count) > 1) return 2;
        var previous = new int[b.Count + 1];
        var current = new int[b.Count + 1];
        for (var j = 0; j <= b.Count; j++) previous[j] = j;
        for (var i = 1; i <= a.Count; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Count; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Count];
    }
}
