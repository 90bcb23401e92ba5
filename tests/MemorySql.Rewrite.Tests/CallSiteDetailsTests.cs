namespace MemorySql.Rewrite.Tests;

/// <summary>What a call site tells about its arguments (the proxy's reflect path copies them into another statement).</summary>
public sealed class CallSiteDetailsTests
{
    [Fact]
    public void ArgumentText_NamedArguments_AndParameters_AreReported()
    {
        const string sql = "SELECT reflect($1, k => $2, \"entity\" => 'dana', since => now() - interval '7 days')";
        var site = Sql.Single(sql);
        Assert.Equal("$1, k => $2, \"entity\" => 'dana', since => now() - interval '7 days'", sql[site.ArgumentsStart..site.ArgumentsEnd]);
        Assert.Equal(new[] { "k", "entity", "since" }, site.NamedArguments);
        Assert.Equal(new[] { 1, 2 }, site.ArgumentParameters.Select(p => p.Number));
        Assert.Equal("$2", sql.Substring(site.ArgumentParameters[1].Start, site.ArgumentParameters[1].Length));
        Assert.True(site.SelfContained);
        Assert.Equal("select", site.StatementKeyword);
    }

    [Theory]
    [InlineData("SELECT reflect('x', k => 3, tags => ARRAY['a','b']::text[], until => CAST(now() AS timestamptz))", true)]
    [InlineData("SELECT reflect('x', since => pg_catalog.now() - '1 day'::interval)", true)]
    [InlineData("SELECT reflect('x', entity => current_setting('memory.entity'))", true)]
    [InlineData("SELECT reflect('x', entity => u.name) FROM users u", false)]
    [InlineData("SELECT reflect('x', k => limit_column) FROM settings", false)]
    [InlineData("SELECT reflect('x', entity => (SELECT name FROM users LIMIT 1))", false)]
    public void SelfContained_MeansNoColumnOrTableReference(string sql, bool expected) =>
        Assert.Equal(expected, Sql.Single(sql).SelfContained);

    [Theory]
    [InlineData("WITH a AS (SELECT 1) SELECT reflect('x')", "with")]
    [InlineData("SELECT 1; CREATE VIEW v AS SELECT reflect('x')", "create")]
    [InlineData("  prepare p AS SELECT reflect('x')", "prepare")]
    public void StatementKeyword_IsTheFirstWordOfTheCallsStatement(string sql, string expected) =>
        Assert.Equal(expected, Sql.Single(sql).StatementKeyword);

    [Fact]
    public void Render_InsertsTextBeforeEachClosingParenthesis()
    {
        var plan = SqlRewriter.Default.Plan("SELECT reflect('a', k => 2), recall('b')")!;
        var sql = plan.Render(site => site.FunctionName == "reflect" ? ", _synthesis => 's'" : ", _model => 'm'");
        Assert.Equal("SELECT reflect('a', k => 2, _synthesis => 's'), recall('b', _model => 'm')", sql);
    }

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", "'it''s'")]
    [InlineData("a\\b", "E'a\\\\b'")]
    public void Quote_MakesAConstantThatMeansTheSameUnderEitherStringSetting(string value, string expected) =>
        Assert.Equal(expected, SqlText.Quote(value));
}
