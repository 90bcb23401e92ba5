using System.Text;

namespace MemorySql.Proxy.Rewriting;

/// <summary>What the proxy adds to one reflect(...) call (docs/architecture.md, "the routines the proxy rewrites").</summary>
/// <param name="Synthesis">The LLM's answer, or null (offline: reflect writes the extractive synthesis).</param>
/// <param name="Sources">The memory ids the answer cites (or, offline, the ones recall found); null to let reflect recall.</param>
/// <param name="Llm">JSON for _llm: model, tokens, recall's scores and signals; null for none.</param>
/// <param name="OfflineReason">Why the LLM was not used; null when it was.</param>
internal sealed record ReflectArguments(string? Synthesis, IReadOnlyList<Guid>? Sources, string? Llm, string? OfflineReason)
{
    /// <summary>Nothing added: reflect works as without the proxy (and reports an error of its arguments itself).</summary>
    public static readonly ReflectArguments None = new(null, null, null, null);

    public static ReflectArguments Offline(string reason) => new(null, null, null, reason);

    /// <summary>The named arguments as SQL text, starting with a comma (simple protocol).</summary>
    public string ToSql()
    {
        var sb = new StringBuilder();
        if (Synthesis is not null) sb.Append(", _synthesis => ").Append(MemorySql.Rewrite.SqlText.Quote(Synthesis));
        if (SourcesText is { } sources) sb.Append(", _sources => ").Append(MemorySql.Rewrite.SqlText.Quote(sources)).Append("::uuid[]");
        if (Llm is not null) sb.Append(", _llm => ").Append(MemorySql.Rewrite.SqlText.Quote(Llm)).Append("::jsonb");
        if (OfflineReason is not null) sb.Append(", _offline_reason => ").Append(MemorySql.Rewrite.SqlText.Quote(OfflineReason));
        return sb.ToString();
    }

    /// <summary>_sources in PostgreSQL's array text form.</summary>
    public string? SourcesText => Sources is null ? null : "{" + string.Join(',', Sources.Select(s => s.ToString())) + "}";
}
