using System.Text;
using MemorySql.Rewrite;

namespace MemorySql.Proxy.Rewriting;

/// <summary>How the proxy treats one reflect(...) call.</summary>
internal enum ReflectMode
{
    /// <summary>Left as any memory call (its embedding only): the statement does not run now, or the client passed the synthesis itself.</summary>
    None,
    /// <summary>Told why there is no LLM synthesis (_offline_reason); reflect recalls and answers extractively.</summary>
    Offline,
    /// <summary>Recall through reflect_context, the LLM, then _synthesis and _sources (or an offline reason when that fails).</summary>
    Llm,
}

/// <summary>One reflect call of a statement and what the proxy does with it.</summary>
/// <param name="ContextArguments">For <see cref="ReflectMode.Llm"/>: the call's argument text for reflect_context (extended protocol: $n renumbered).</param>
/// <param name="FirstParameter">Extended protocol, <see cref="ReflectMode.Llm"/>: the first of the four parameters carrying _synthesis, _sources, _llm, _offline_reason.</param>
internal sealed record ReflectCall(MemoryCallSite Site, ReflectMode Mode, string? OfflineReason, string? ContextArguments, int FirstParameter = 0)
{
    public const int ParametersPerCall = 4;

    /// <summary>Statements whose reflect calls run when the statement does (not CREATE VIEW, PREPARE, EXPLAIN, …).</summary>
    private static readonly HashSet<string> RunNow = new(StringComparer.Ordinal)
    {
        "select", "with", "values", "insert", "update", "delete", "merge", "call", "declare", "table",
    };

    private static readonly string[] ProxyArguments = ["_synthesis", "_sources", "_llm", "_offline_reason"];

    /// <summary>reflect's parameters, in order (sql/075_reflect.sql); reflect_context takes the same.</summary>
    private static readonly string[] Parameters =
        ["query", "k", "types", "kinds", "tags", "entity", "since", "until", "record", "_embedding", "_model", "_synthesis", "_sources", "_llm", "_offline_reason"];

    public const string NoLlmReason = "no LLM is configured for the MemorySql proxy (Llm:Provider = none)";

    public const string NotSelfContainedReason =
        "the LLM path needs reflect's arguments to be constants, parameters or expressions of them, and this call's arguments refer to columns or a subquery";

    /// <summary>How each reflect call of <paramref name="plan"/> is handled (calls of other routines are not listed).</summary>
    /// <param name="literalOnly">Simple protocol: a call whose text is a parameter cannot be rewritten there.</param>
    public static List<ReflectCall> Plan(RewritePlan plan, bool llmConfigured, bool literalOnly)
    {
        var calls = new List<ReflectCall>();
        foreach (var site in plan.CallSites)
        {
            if (site.FunctionName != "reflect" || site.InsertAt < 0) continue;
            if (literalOnly && site.Kind != CallSiteKind.Literal) continue;
            // Not now, the client's own synthesis, or arguments reflect refuses (it then reports them itself, by its own name).
            if (!RunNow.Contains(site.StatementKeyword) || site.NamedArguments.Any(a => ProxyArguments.Contains(a, StringComparer.Ordinal))
                || site.PositionalArguments > 9 || site.NamedArguments.Any(a => !Parameters.Contains(a, StringComparer.Ordinal)))
                calls.Add(new ReflectCall(site, ReflectMode.None, null, null));
            else if (!llmConfigured)
                calls.Add(new ReflectCall(site, ReflectMode.Offline, NoLlmReason, null));
            else if (!site.SelfContained || site.ArgumentsStart < 0)
                calls.Add(new ReflectCall(site, ReflectMode.Offline, NotSelfContainedReason, null));
            else
                calls.Add(new ReflectCall(site, ReflectMode.Llm, null, plan.OriginalSql[site.ArgumentsStart..site.ArgumentsEnd]));
        }
        return calls;
    }

    /// <summary>
    /// The argument text with the client's $n renumbered by <paramref name="numbers"/> (client number → new number,
    /// extended as new ones appear), so the proxy's own statement binds only the parameters it uses.
    /// </summary>
    public static string Renumber(string sql, MemoryCallSite site, Dictionary<int, int> numbers)
    {
        var sb = new StringBuilder();
        var read = site.ArgumentsStart;
        foreach (var (start, length, number) in site.ArgumentParameters)
        {
            if (!numbers.TryGetValue(number, out var mapped))
            {
                mapped = numbers.Count + 1;
                numbers[number] = mapped;
            }
            sb.Append(sql, read, start - read).Append('$').Append(mapped.ToString(System.Globalization.CultureInfo.InvariantCulture));
            read = start + length;
        }
        return sb.Append(sql, read, site.ArgumentsEnd - read).ToString();
    }
}
