using System.Globalization;
using System.Text.Json;

namespace MemorySql.IntegrationTests.Support;

/// <summary>
/// Assertions on recall rows as the client programs report them: a JSON array of
/// <c>{"content": …, "similarity": number or null, "signals": [ … ]}</c>.
/// </summary>
public static class RecallReport
{
    /// <summary>The recall used the vector path: rows came back, every row says <c>vector</c> in signals and has a similarity.</summary>
    public static void AssertVector(JsonElement rows, string? topContent = null)
    {
        Assert.True(rows.ValueKind == JsonValueKind.Array && rows.GetArrayLength() > 0, "recall returned no rows: " + rows);
        foreach (var row in rows.EnumerateArray())
        {
            var signals = Signals(row);
            Assert.True(signals.Contains("vector"), $"recall did not use the vector path (signals: {string.Join(", ", signals)})");
            Assert.True(row.GetProperty("similarity").ValueKind == JsonValueKind.Number, "similarity is null on a vector recall: " + row);
        }
        if (topContent is not null) Assert.Equal(topContent, Content(rows[0]));
    }

    /// <summary>
    /// A recall of exactly a stored text through the proxy: that memory ranks first with similarity ≈ 1 — the
    /// proof that this execution's own text was embedded (a vector from another execution would not match so).
    /// </summary>
    public static void AssertExactMatch(JsonElement rows, string text)
    {
        AssertVector(rows, text);
        var similarity = rows[0].GetProperty("similarity").GetDouble();
        Assert.True(similarity > 0.99, string.Create(CultureInfo.InvariantCulture, $"'{text}' recalled itself with similarity {similarity}: the query vector is not the embedding of this text"));
    }

    /// <summary>What PostgreSQL alone does (no proxy, embed worker off): lexical ranking, the fallback named in signals, no similarity.</summary>
    public static void AssertLexicalFallback(JsonElement rows)
    {
        Assert.True(rows.ValueKind == JsonValueKind.Array && rows.GetArrayLength() > 0, "the direct recall returned no rows: " + rows);
        foreach (var row in rows.EnumerateArray())
        {
            var signals = Signals(row);
            Assert.DoesNotContain("vector", signals);
            Assert.Contains("lexical", signals);
            Assert.Contains(signals, s => s.StartsWith("fallback: no query vector", StringComparison.Ordinal));
            Assert.Equal(JsonValueKind.Null, row.GetProperty("similarity").ValueKind);
        }
    }

    public static string Content(JsonElement row) => row.GetProperty("content").GetString()!;

    public static IReadOnlyList<string> Contents(JsonElement rows) => rows.EnumerateArray().Select(Content).ToList();

    public static IReadOnlyList<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();

    private static List<string> Signals(JsonElement row) => row.GetProperty("signals").EnumerateArray().Select(e => e.GetString()!).ToList();
}
