namespace MemorySql.Rewrite;

/// <summary>
/// Finds the calls of memory routines in a statement and plans how to give each its embedding
/// (docs/architecture.md, "the embedding argument"). Pure and thread-safe; one instance serves every connection.
/// </summary>
/// <example>
/// <code>
/// if (rewriter.Prefilter.MightContainCall(payload) &amp;&amp; rewriter.Plan(sql) is { } plan)   // cache plan per sql
///     sql = plan.RenderWithLiterals(vectorsOf(plan.LiteralTexts), "builtin-v1");
/// </code>
/// </example>
public sealed class SqlRewriter
{
    private readonly CallSiteFinder _finder;

    /// <summary>A rewriter with <see cref="RewriteOptions.Default"/>.</summary>
    public static SqlRewriter Default { get; } = new(RewriteOptions.Default);

    /// <exception cref="ArgumentException">The options are not usable (the message names the setting).</exception>
    public SqlRewriter(RewriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Prefilter = new MemoryCallPrefilter(options.Functions.Select(f => f.Name));
        _finder = new CallSiteFinder(options);
    }

    public RewriteOptions Options { get; }

    /// <summary>The byte-level test to run on every Query and Parse before <see cref="Plan"/>.</summary>
    public MemoryCallPrefilter Prefilter { get; }

    /// <summary>
    /// The plan for a statement text (one or many statements), or null when no call can be given an embedding:
    /// no memory call, only calls that are not rewritable, or text PostgreSQL's scanner would reject.
    /// Never throws for any text: an internal failure also yields null, so the statement goes upstream unchanged.
    /// </summary>
    public RewritePlan? Plan(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        try
        {
            return PlanCore(sql);
        }
#pragma warning disable CA1031 // A rewriter bug must degrade to "forward unchanged", never cost the client its connection.
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    /// <summary>Every call of a memory routine in the text, including the ones that cannot be rewritten and why (for diagnostics).</summary>
    public IReadOnlyList<MemoryCallSite> FindCallSites(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        try
        {
            return _finder.Find(sql, out _) ?? [];
        }
#pragma warning disable CA1031
        catch (Exception)
#pragma warning restore CA1031
        {
            return [];
        }
    }

    /// <summary><see cref="Plan"/> without the safety net, so tests see any exception.</summary>
    internal RewritePlan? PlanCore(string sql)
    {
        var sites = _finder.Find(sql, out var maxParameterNumber);
        if (sites is null || !sites.Exists(s => s.Kind is CallSiteKind.Literal or CallSiteKind.Parameter)) return null;
        return new RewritePlan(sql, sites, maxParameterNumber, Options);
    }

    /// <summary><see cref="FindCallSites"/> without the safety net; null when the text does not lex.</summary>
    internal List<MemoryCallSite>? FindCallSitesCore(string sql) => _finder.Find(sql, out _);
}
