namespace MemorySql.Eval;

/// <summary>The LoCoMo retrieval metric: the fraction of a question's evidence turns found in the top k.</summary>
internal static class RetrievalMetrics
{
    public static double EvidenceRecall(IReadOnlyList<string> ranked, IReadOnlyList<string> evidence, int k)
    {
        if (evidence.Count == 0) return double.NaN;
        var top = ranked.Take(k).ToHashSet(StringComparer.Ordinal);
        return evidence.Count(top.Contains) / (double)evidence.Count;
    }

    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = p / 100.0 * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}
