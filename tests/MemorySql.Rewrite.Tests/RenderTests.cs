namespace MemorySql.Rewrite.Tests;

/// <summary>Golden outputs of both render modes.</summary>
public sealed class RenderTests
{
    private const string Vector = "[0.25,-0.5]";

    [Fact]
    public void SimpleProtocol_InlinesVectorAndModelBeforeTheClosingParenthesis()
    {
        var plan = Sql.Plan("SELECT content, score FROM recall('where does Dana like to sit?', k => 5)")!;
        Assert.Equal(["where does Dana like to sit?"], plan.LiteralTexts);
        Assert.Equal(
            "SELECT content, score FROM recall('where does Dana like to sit?', k => 5, _embedding => '[0.25,-0.5]'::vector, _model => 'builtin-v1')",
            plan.RenderWithLiterals([Vector], "builtin-v1"));
    }

    [Fact]
    public void SimpleProtocol_EveryLiteralCallOfAMultiStatementString()
    {
        var plan = Sql.Plan("CALL remember('a', tags => '{t}'); SELECT reflect('b');SELECT * FROM memory.recall('a')")!;
        Assert.Equal(["a", "b"], plan.LiteralTexts);
        Assert.Equal([0, 1, 0], plan.CallSites.Select(s => s.LiteralIndex));
        Assert.Equal(
            "CALL remember('a', tags => '{t}', _embedding => '[1]'::vector, _model => 'm'); " +
            "SELECT reflect('b', _embedding => '[2]'::vector, _model => 'm');" +
            "SELECT * FROM memory.recall('a', _embedding => '[1]'::vector, _model => 'm')",
            Sql.RenderLiterals(plan));
    }

    [Theory]
    [InlineData("SELECT * FROM recall('x')--comment", "SELECT * FROM recall('x', _embedding => '[1]'::vector, _model => 'm')--comment")]
    [InlineData("SELECT*FROM recall('x')r", "SELECT*FROM recall('x', _embedding => '[1]'::vector, _model => 'm')r")]
    [InlineData("SELECT * FROM recall(\n  'x' -- the question\n)", "SELECT * FROM recall(\n  'x' -- the question\n, _embedding => '[1]'::vector, _model => 'm')")]
    [InlineData("SELECT * FROM recall('x' /* c */)", "SELECT * FROM recall('x' /* c */, _embedding => '[1]'::vector, _model => 'm')")]
    [InlineData("SELECT * FROM recall('a'\n'b')", "SELECT * FROM recall('a'\n'b', _embedding => '[1]'::vector, _model => 'm')")]
    [InlineData("SELECT * FROM recall(U&'!0078' UESCAPE '!')", "SELECT * FROM recall(U&'!0078' UESCAPE '!', _embedding => '[1]'::vector, _model => 'm')")]
    [InlineData("SELECT * FROM recall(query=>'x',k=>2)", "SELECT * FROM recall(query=>'x',k=>2, _embedding => '[1]'::vector, _model => 'm')")]
    [InlineData("SELECT * FROM recall(reflect('x'))", "SELECT * FROM recall(reflect('x', _embedding => '[1]'::vector, _model => 'm'))")]
    [InlineData("SELECT * FROM recall($$x$$)", "SELECT * FROM recall($$x$$, _embedding => '[1]'::vector, _model => 'm')")]
    public void SimpleProtocol_WeirdFormattingStaysValid(string sql, string expected) => Assert.Equal(expected, Sql.RenderLiterals(Sql.Plan(sql)!));

    [Fact]
    public void SimpleProtocol_LeavesParameterCallsAlone()
    {
        var plan = Sql.Plan("SELECT * FROM recall($1), reflect('x')")!;
        Assert.Equal("SELECT * FROM recall($1), reflect('x', _embedding => '[1]'::vector, _model => 'm')", Sql.RenderLiterals(plan));

        var onlyParameters = Sql.Plan("SELECT * FROM recall($1)")!;
        Assert.Empty(onlyParameters.LiteralTexts);
        Assert.Same(onlyParameters.OriginalSql, onlyParameters.RenderWithLiterals([], "m"));
    }

    [Theory]
    [InlineData("it's", "'it''s'")]
    [InlineData("back\\slash", "E'back\\\\slash'")]
    [InlineData("o'k\\", "E'o''k\\\\'")]
    public void ModelName_IsQuotedAsASqlLiteral(string model, string quoted)
    {
        var plan = Sql.Plan("SELECT reflect('x')")!;
        Assert.Equal($"SELECT reflect('x', _embedding => '[1]'::vector, _model => {quoted})", plan.RenderWithLiterals(["[1]"], model));
    }

    [Fact]
    public void ExtendedProtocol_ParameterTextGetsAnInjectedParameter()
    {
        var plan = Sql.Plan("SELECT content FROM recall($1, k => 5)")!;
        Assert.Equal(1, plan.MaxParameterNumber);
        Assert.Equal([1], plan.TextParameters);
        var rewrite = plan.RenderWithParameters([], "builtin-v1", 2);
        Assert.Equal("SELECT content FROM recall($1, k => 5, _embedding => $2::vector, _model => 'builtin-v1')", rewrite.Sql);
        Assert.Equal([new InjectedParameter(2, 1)], rewrite.InjectedParameters);
    }

    [Fact]
    public void ExtendedProtocol_CallsSharingATextParameterShareTheInjectedParameter()
    {
        var plan = Sql.Plan("SELECT * FROM recall($2) a, recall($1::text) b, recall(query => $2) c WHERE a.id = $3")!;
        Assert.Equal(3, plan.MaxParameterNumber);
        Assert.Equal([2, 1], plan.TextParameters);
        var rewrite = plan.RenderWithParameters([], "m", 4);
        Assert.Equal(
            "SELECT * FROM recall($2, _embedding => $4::vector, _model => 'm') a, " +
            "recall($1::text, _embedding => $5::vector, _model => 'm') b, " +
            "recall(query => $2, _embedding => $4::vector, _model => 'm') c WHERE a.id = $3",
            rewrite.Sql);
        Assert.Equal([new InjectedParameter(4, 2), new InjectedParameter(5, 1)], rewrite.InjectedParameters);
    }

    [Fact]
    public void ExtendedProtocol_LiteralTextsAreInlinedAndParametersInjected()
    {
        var plan = Sql.Plan("SELECT * FROM recall($1), LATERAL (SELECT reflect('why?')) r")!;
        Assert.Equal(["why?"], plan.LiteralTexts);
        var rewrite = plan.RenderWithParameters(["[9]"], "m", 7);
        Assert.Equal(
            "SELECT * FROM recall($1, _embedding => $7::vector, _model => 'm'), LATERAL (SELECT reflect('why?', _embedding => '[9]'::vector, _model => 'm')) r",
            rewrite.Sql);
        Assert.Equal([new InjectedParameter(7, 1)], rewrite.InjectedParameters);
    }

    [Fact]
    public void ExtendedProtocol_WithOnlyLiterals_InjectsNoParameter()
    {
        var rewrite = Sql.RenderParameters(Sql.Plan("SELECT reflect('x')")!, first: 1);
        Assert.Equal("SELECT reflect('x', _embedding => '[1]'::vector, _model => 'm')", rewrite.Sql);
        Assert.Empty(rewrite.InjectedParameters);
    }

    [Theory]
    [InlineData("SELECT * FROM recall($1) WHERE x = $10", 10)]
    [InlineData("SELECT * FROM recall($10) WHERE x = $9", 10)]
    [InlineData("SELECT * FROM recall($2) WHERE x = $1", 2)]
    [InlineData("SELECT * FROM recall('x') WHERE '$5' = $$ $7 $$ -- $8", 0)]
    [InlineData("SELECT * FROM recall($007)", 7)]
    public void MaxParameterNumber_IsTheHighestParameterOutsideStringsAndComments(string sql, int max) =>
        Assert.Equal(max, Sql.Plan(sql)!.MaxParameterNumber);

    [Fact]
    public void ExtendedProtocol_MultiDigitInjectedNumbers()
    {
        var plan = Sql.Plan("SELECT * FROM recall($9)")!;
        Assert.Equal("SELECT * FROM recall($9, _embedding => $10::vector, _model => 'm')", plan.RenderWithParameters([], "m", 10).Sql);
        Assert.Equal("SELECT * FROM recall($9, _embedding => $12345::vector, _model => 'm')", plan.RenderWithParameters([], "m", 12345).Sql);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void ExtendedProtocol_FirstInjectedParameterMustBeAboveEveryExistingOne(int first)
    {
        var plan = Sql.Plan("SELECT * FROM recall($1) WHERE x = $3")!;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => plan.RenderWithParameters([], "m", first));
        Assert.Contains("$3", e.Message);
    }

    [Fact]
    public void ExtendedProtocol_InjectedParametersMayNotPassPostgresLimit()
    {
        var plan = Sql.Plan("SELECT * FROM recall($1), recall($2)")!;
        Assert.Equal(65535, plan.RenderWithParameters([], "m", 65534).InjectedParameters[^1].Number);
        Assert.Throws<ArgumentOutOfRangeException>(() => plan.RenderWithParameters([], "m", 65535));
    }

    [Fact]
    public void WrongNumberOfVectors_IsRefusedWithCounts()
    {
        var plan = Sql.Plan("SELECT reflect('a'), reflect('b')")!;
        var e = Assert.Throws<ArgumentException>(() => plan.RenderWithLiterals(["[1]"], "m"));
        Assert.Contains("2 literal text(s)", e.Message);
        Assert.Contains("1 vector(s)", e.Message);
    }

    [Fact]
    public void EqualLiteralTexts_AreEmbeddedOnce()
    {
        var plan = Sql.Plan("SELECT * FROM recall('x'), recall(E'\\x78'), recall('y'), recall($$x$$)")!;
        Assert.Equal(["x", "y"], plan.LiteralTexts);
        Assert.Equal([0, 0, 1, 0], plan.CallSites.Select(s => s.LiteralIndex));
    }

    [Fact]
    public void LargeBatchOfCalls_IsPlannedWithEveryDistinctTextOnce()
    {
        var sql = string.Join(";\n", Enumerable.Range(0, 10_000).Select(i => $"CALL remember('fact {i % 2_500}', tags => '{{t{i}}}')"));
        var plan = Sql.Plan(sql)!;
        Assert.Equal(10_000, plan.CallSites.Count);
        Assert.Equal(2_500, plan.LiteralTexts.Count);
        Assert.Equal("fact 2499", plan.LiteralTexts[^1]);
        var rendered = plan.RenderWithLiterals([.. plan.LiteralTexts.Select(_ => "[1]")], "m");
        Assert.Equal(10_000, Sql.Sites(rendered).Count(s => s.Kind == CallSiteKind.AlreadyRewritten));
    }

    [Fact]
    public void RewritingRewrittenSql_ChangesNothing()
    {
        const string sql = "SELECT * FROM recall('x', k => 5), reflect($1); CALL remember('y')";
        var once = Sql.RenderLiterals(Sql.Plan(sql)!);
        var again = Sql.Plan(once)!;
        Assert.Empty(again.LiteralTexts);
        Assert.Equal(once, Sql.RenderLiterals(again));

        var extended = Sql.RenderParameters(Sql.Plan("SELECT * FROM recall($1), reflect('x')")!, first: 2).Sql;
        Assert.Null(Sql.Plan(extended));
        Assert.All(Sql.Sites(extended), s => Assert.Equal(CallSiteKind.AlreadyRewritten, s.Kind));
    }

    [Fact]
    public void CustomArgumentNames_AreUsedInTheInsertedText()
    {
        var rewriter = new SqlRewriter(new RewriteOptions { EmbeddingArgument = "qvec", ModelArgument = "qmodel" });
        var plan = Sql.Plan("SELECT reflect('x')", rewriter)!;
        Assert.Equal("SELECT reflect('x', qvec => '[1]'::vector, qmodel => 'm')", Sql.RenderLiterals(plan));
        Assert.Null(Sql.Plan("SELECT reflect('x', qvec => NULL)", rewriter));
    }

    [Fact]
    public void Plan_IsSharedSafelyBetweenThreads()
    {
        var plan = Sql.Plan("SELECT * FROM recall('x'), recall($1)")!;
        var expected = plan.RenderWithLiterals(["[1]"], "m");
        var results = new string[64];
        Parallel.For(0, results.Length, i => results[i] = plan.RenderWithLiterals(["[1]"], "m"));
        Assert.All(results, r => Assert.Equal(expected, r));
    }
}
