namespace MemorySql.Rewrite.Tests;

/// <summary>Shortcuts over the rewriter with its default options, without the safety net so bugs surface.</summary>
internal static class Sql
{
    public static readonly SqlRewriter Rewriter = SqlRewriter.Default;

    public static List<MemoryCallSite> Sites(string sql, SqlRewriter? rewriter = null)
    {
        var sites = (rewriter ?? Rewriter).FindCallSitesCore(sql);
        Assert.NotNull(sites);
        return sites;
    }

    public static MemoryCallSite Single(string sql, SqlRewriter? rewriter = null) => Assert.Single(Sites(sql, rewriter));

    public static RewritePlan? Plan(string sql, SqlRewriter? rewriter = null) => (rewriter ?? Rewriter).PlanCore(sql);

    /// <summary>The decoded text of the only call's literal argument.</summary>
    public static string? LiteralOf(string sql, SqlRewriter? rewriter = null)
    {
        var site = Single(sql, rewriter);
        Assert.True(site.Kind == CallSiteKind.Literal, $"expected a literal site, got {site}");
        return site.LiteralText;
    }

    /// <summary>Renders with a stand-in vector per literal text: [1], [2], …</summary>
    public static string RenderLiterals(RewritePlan plan, string model = "m") =>
        plan.RenderWithLiterals([.. plan.LiteralTexts.Select((_, i) => $"[{i + 1}]")], model);

    public static ParameterizedRewrite RenderParameters(RewritePlan plan, int first, string model = "m") =>
        plan.RenderWithParameters([.. plan.LiteralTexts.Select((_, i) => $"[{i + 1}]")], model, first);
}
