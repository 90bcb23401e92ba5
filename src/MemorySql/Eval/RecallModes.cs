namespace MemorySql.Eval;

/// <summary>
/// The ranking modes an evaluation compares, each a set of recall's signals passed as
/// <c>recall(..., ranking => …)</c>: the same argument a user has for debugging a ranking.
/// </summary>
internal static class RecallModes
{
    /// <summary>Mode name → the signals recall ranks with (null: recall's default, every signal).</summary>
    public static readonly IReadOnlyDictionary<string, string[]?> Known = new Dictionary<string, string[]?>(StringComparer.Ordinal)
    {
        ["lexical"] = ["lexical"],
        ["vector"] = ["vector"],
        ["hybrid"] = null,
        // Ablations of hybrid, one signal left out each, to measure what a signal buys in the same run.
        ["hybrid-no-context"] = ["vector", "lexical", "importance", "recency", "entity"],
        ["hybrid-no-entity"] = ["vector", "lexical", "importance", "recency", "context"],
        ["hybrid-no-vector"] = ["lexical", "importance", "recency", "entity", "context"],
        // The fusion recall had before the session and entity signals: relevance, importance and recency.
        ["fusion"] = ["vector", "lexical", "importance", "recency"],
    };

    private static string Names => string.Join(", ", Known.Keys);

    public static IReadOnlyList<string> Parse(string text)
    {
        var modes = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(m => m.ToLowerInvariant()).Distinct().ToList();
        if (modes.Count == 0) throw new ArgumentException($"--modes needs at least one of: {Names}");
        foreach (var m in modes)
            if (!Known.ContainsKey(m))
                throw new ArgumentException($"--modes: unknown mode '{m}'; use {Names} (comma-separated)");
        return modes;
    }

    public static IReadOnlyList<int> ParseKs(string text)
    {
        var ks = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) || k < 1 || k > 1000)
                throw new ArgumentException($"--k: '{part}' is not a whole number from 1 to 1000 (example: --k 1,5,10,25,50)");
            ks.Add(k);
        }
        if (ks.Count == 0) throw new ArgumentException("--k needs at least one value, e.g. --k 10");
        return [.. ks.Distinct().Order()];
    }
}
