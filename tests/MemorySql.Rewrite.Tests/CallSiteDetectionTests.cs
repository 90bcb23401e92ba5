namespace MemorySql.Rewrite.Tests;

public sealed class CallSiteDetectionTests
{
    [Theory]
    [InlineData("SELECT * FROM recall('x')")]
    [InlineData("SELECT * FROM RECALL('x')")]
    [InlineData("SELECT * FROM ReCaLl ('x')")]
    [InlineData("SELECT * FROM memory.recall('x')")]
    [InlineData("SELECT * FROM MEMORY.Recall('x')")]
    [InlineData("SELECT * FROM \"memory\".\"recall\"('x')")]
    [InlineData("SELECT * FROM \"recall\"('x')")]
    [InlineData("SELECT * FROM U&\"r\\0065call\"('x')")]
    [InlineData("SELECT * FROM memory . recall ( 'x' )")]
    [InlineData("SELECT * FROM recall/* c */('x')")]
    [InlineData("SELECT * FROM recall -- c\n ('x')")]
    [InlineData("SELECT * FROM mydb.memory.recall('x')")]
    public void NameForms_AreCallSites(string sql)
    {
        var site = Sql.Single(sql);
        Assert.Equal("recall", site.FunctionName);
        Assert.Equal(CallSiteKind.Literal, site.Kind);
        Assert.Equal("x", site.LiteralText);
    }

    [Theory]
    [InlineData("SELECT 'it''s recall(''x'')' AS t")]
    [InlineData("SELECT 1 -- recall('x')")]
    [InlineData("SELECT 1 /* nested /* recall('x') */ still comment recall('y') */")]
    [InlineData("SELECT $x$ recall('y') $x$")]
    [InlineData("SELECT $$ recall('y') $$")]
    [InlineData("SELECT E'\\' recall(''x'')'")]
    [InlineData("SELECT my_recall('x')")]
    [InlineData("SELECT recall_all('x')")]
    [InlineData("SELECT x.recall('x')")]
    [InlineData("SELECT public.recall('x')")]
    [InlineData("SELECT \"Recall\"('x')")]
    [InlineData("SELECT \"RECALL\"('x')")]
    [InlineData("SELECT \"my recall\"('x')")]
    [InlineData("SELECT recall FROM t")]
    [InlineData("SELECT t.recall FROM t")]
    [InlineData("SELECT f(recall => 'x')")]
    [InlineData("SELECT 'x'::recall")]
    [InlineData("SELECT a$recall('x')")]
    [InlineData("SELECT E'recall(\\'x\\')'")]
    [InlineData("SELECT U&'recall(''x'')'")]
    [InlineData("SELECT B'0101', X'1F' -- recall(")]
    [InlineData("SELECT \"recall(\" FROM t")]
    public void NamesInsideStringsCommentsOrOtherIdentifiers_AreNotCallSites(string sql)
    {
        Assert.Empty(Sql.Sites(sql));
        Assert.Null(Sql.Plan(sql));
    }

    [Theory]
    [InlineData("CREATE FUNCTION recall(query text) RETURNS text LANGUAGE sql AS $$ SELECT query $$")]
    [InlineData("CREATE OR REPLACE FUNCTION memory.recall(query text, k int DEFAULT 5) RETURNS int LANGUAGE sql AS 'select 1'")]
    [InlineData("DROP FUNCTION IF EXISTS recall(text)")]
    [InlineData("COMMENT ON FUNCTION memory.recall(text) IS 'recall(''x'')'")]
    [InlineData("CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION remember('x')")]
    [InlineData("CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE PROCEDURE remember('x')")]
    [InlineData("INSERT INTO recall (content) VALUES ('x')")]
    [InlineData("CREATE TABLE recall (content text DEFAULT 'x')")]
    [InlineData("WITH recall(content) AS (SELECT 'x') SELECT * FROM recall")]
    [InlineData("WITH RECURSIVE recall(n) AS (SELECT 1) SELECT * FROM recall")]
    [InlineData("SELECT * FROM t AS recall(a, b)")]
    [InlineData("GRANT EXECUTE ON ROUTINE recall(text) TO PUBLIC")]
    [InlineData("CREATE INDEX ON recall (content)")]
    public void DefinitionsAndReferences_AreNotCallSites(string sql) => Assert.Empty(Sql.Sites(sql));

    [Theory]
    [InlineData("CALL remember('Dana prefers window seats', tags => '{travel}')", "remember")]
    [InlineData("SELECT reflect('what do we know?')", "reflect")]
    [InlineData("SELECT * FROM t CROSS JOIN LATERAL recall('x') r", "recall")]
    [InlineData("SELECT * FROM t, LATERAL recall('x', k => 5) AS r", "recall")]
    [InlineData("WITH hits AS (SELECT * FROM recall('x')) SELECT * FROM hits", "recall")]
    [InlineData("WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT * FROM recall('x')) SELECT * FROM b", "recall")]
    [InlineData("SELECT * FROM t WHERE id IN (SELECT id FROM recall('x'))", "recall")]
    [InlineData("SELECT (SELECT content FROM recall('x') LIMIT 1)", "recall")]
    [InlineData("INSERT INTO log (content) SELECT content FROM recall('x')", "recall")]
    [InlineData("SELECT * FROM ROWS FROM (recall('x')) r", "recall")]
    [InlineData("EXPLAIN ANALYZE SELECT * FROM recall('x')", "recall")]
    [InlineData("CREATE VIEW v AS SELECT * FROM recall('x')", "recall")]
    [InlineData("SELECT * FROM recall('x') AS r(id, content)", "recall")]
    [InlineData("SELECT reflect('x') AS answer", "reflect")]
    [InlineData("CALL revise('018f…', 'new text')", "revise")]
    public void CallsInAnyStatementContext_AreFound(string sql, string function)
    {
        var site = Sql.Single(sql);
        Assert.Equal(function, site.FunctionName);
        Assert.True(site.Kind == CallSiteKind.Literal, site.ToString());
    }

    [Fact]
    public void MultiStatementString_FindsEveryCallInOrder()
    {
        var sites = Sql.Sites("SELECT * FROM recall('a'); CALL remember('b');\nSELECT reflect('c'); SELECT 1");
        Assert.Equal(["recall", "remember", "reflect"], sites.Select(s => s.FunctionName));
        Assert.Equal(["a", "b", "c"], sites.Select(s => s.LiteralText));
    }

    [Fact]
    public void NestedCalls_AreBothFound_AndTheOuterOneWithAnExpressionIsNotRewritable()
    {
        var sites = Sql.Sites("SELECT * FROM recall(reflect('inner'))");
        Assert.Equal(2, sites.Count);
        Assert.Equal(CallSiteKind.NotRewritable, sites[0].Kind);
        Assert.Equal(CallSiteKind.Literal, sites[1].Kind);
        Assert.Equal("inner", sites[1].LiteralText);
    }

    [Fact]
    public void SiteExtent_CoversQualifiedNameThroughClosingParenthesis()
    {
        const string sql = "SELECT * FROM memory.recall('x', k => (1 + 2)) r";
        var site = Sql.Single(sql);
        Assert.Equal("memory.recall('x', k => (1 + 2))", sql[site.Start..site.End]);
        Assert.Equal(sql.LastIndexOf(')'), site.InsertAt);
    }

    [Theory]
    [InlineData("SELECT * FROM recall($1)", 1)]
    [InlineData("SELECT * FROM recall($12, k => $1)", 12)]
    [InlineData("SELECT * FROM recall($1::text)", 1)]
    [InlineData("SELECT * FROM recall($1::pg_catalog.text)", 1)]
    [InlineData("SELECT * FROM recall($1::varchar)", 1)]
    [InlineData("SELECT * FROM recall($1::character varying)", 1)]
    [InlineData("SELECT * FROM recall($1::varchar::text)", 1)]
    [InlineData("SELECT * FROM recall(CAST($1 AS text))", 1)]
    [InlineData("SELECT * FROM recall(cast ( $1 as TEXT ))", 1)]
    [InlineData("SELECT * FROM recall(($1))", 1)]
    [InlineData("SELECT * FROM recall(query => $2)", 2)]
    [InlineData("SELECT * FROM recall(query := $2)", 2)]
    [InlineData("SELECT * FROM recall(\"query\" => $2)", 2)]
    [InlineData("SELECT * FROM recall(k => 5, QUERY => $3)", 3)]
    [InlineData("CALL revise($1, $2)", 2)]
    [InlineData("CALL revise(id => $1, content => $2)", 2)]
    [InlineData("CALL remember(content => $1, tags => $2)", 1)]
    public void ParameterText_IsRecognised(string sql, int parameter)
    {
        var site = Sql.Single(sql);
        Assert.Equal(CallSiteKind.Parameter, site.Kind);
        Assert.Equal(parameter, site.ParameterNumber);
    }

    [Theory]
    [InlineData("SELECT * FROM recall('x'::text)", "x")]
    [InlineData("SELECT * FROM recall(CAST('x' AS varchar))", "x")]
    [InlineData("SELECT * FROM recall(query => 'x')", "x")]
    [InlineData("SELECT * FROM recall(query := 'x', k := 3)", "x")]
    [InlineData("CALL revise('id', 'the text')", "the text")]
    [InlineData("CALL revise('id', content => 'the text')", "the text")]
    [InlineData("CALL remember(tags => '{a}', content => 'c')", "c")]
    public void LiteralText_IsRecognisedByPositionOrName(string sql, string text) => Assert.Equal(text, Sql.LiteralOf(sql));

    [Theory]
    [InlineData("SELECT * FROM recall()", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(k => 5)", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM t, recall(t.question)", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(question)", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('a' || 'b')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(lower('X'))", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall($1 || 'x')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall($1::varchar(10))", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('abc'::char(2))", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall($1::int)", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('x' COLLATE \"C\")", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(B'0101')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(X'1F')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(E'\\xff')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(E'a\\000b')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(E'\\uD83D')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(U&'\\0000')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(U&'\\zz')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('a', query => 'b')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('x'", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('x'; SELECT 1", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall(,'x')", CallSiteKind.NotRewritable)]
    [InlineData("CALL revise('only the id')", CallSiteKind.NotRewritable)]
    [InlineData("SELECT * FROM recall('x', _embedding => '[1,2]'::vector)", CallSiteKind.AlreadyRewritten)]
    [InlineData("SELECT * FROM recall('x', _model => 'm')", CallSiteKind.AlreadyRewritten)]
    [InlineData("SELECT * FROM recall($1, \"_embedding\" := $2::vector)", CallSiteKind.AlreadyRewritten)]
    [InlineData("SELECT * FROM recall($1, _EMBEDDING => $2::vector, _model => 'm')", CallSiteKind.AlreadyRewritten)]
    public void CallsThatCannotBeGivenAnEmbedding_AreRecordedWithAReason(string sql, CallSiteKind kind)
    {
        var site = Sql.Single(sql);
        Assert.Equal(kind, site.Kind);
        Assert.False(string.IsNullOrEmpty(site.Reason));
        Assert.Equal(-1, site.InsertAt);
        Assert.Null(Sql.Plan(sql));
    }

    [Fact]
    public void CallsInsideSqlStandardRoutineBodies_AreNotRewritten_ButLaterStatementsAre()
    {
        const string sql = """
            CREATE FUNCTION f(q text) RETURNS SETOF text LANGUAGE sql
            BEGIN ATOMIC
              SELECT content FROM recall('frozen');
              SELECT CASE WHEN true THEN reflect('also frozen') END;
            END;
            SELECT * FROM recall('live');
            """;
        var sites = Sql.Sites(sql);
        Assert.Equal(3, sites.Count);
        Assert.All(sites.Take(2), s => Assert.Equal(CallSiteKind.NotRewritable, s.Kind));
        Assert.Equal(CallSiteKind.Literal, sites[2].Kind);
        Assert.Equal("live", sites[2].LiteralText);
    }

    [Fact]
    public void ParametersOfSqlPrepare_AreNotProtocolParameters()
    {
        var sites = Sql.Sites("PREPARE p(text) AS SELECT * FROM recall($1), reflect('x')");
        Assert.Equal(CallSiteKind.NotRewritable, sites[0].Kind);
        Assert.Equal(CallSiteKind.Literal, sites[1].Kind);
    }

    [Theory]
    [InlineData("SELECT * FROM recall('unterminated")]
    [InlineData("SELECT * FROM recall('x') /* unterminated comment")]
    [InlineData("SELECT * FROM recall($a$ x $b$)")]
    [InlineData("SELECT * FROM \"recall('x')")]
    [InlineData("SELECT \"\" FROM recall('x')")]
    [InlineData("SELECT U&'x' UESCAPE 'ab', recall('x')")]
    [InlineData("SELECT U&'x' UESCAPE '+', recall('x')")]
    [InlineData("SELECT * FROM recall($99999999999)")]
    [InlineData("SELECT $1recall('x')")]
    public void TextThatPostgresWouldRejectInItsScanner_YieldsNoPlan(string sql)
    {
        Assert.Null(Sql.Rewriter.FindCallSitesCore(sql));
        Assert.Null(Sql.Plan(sql));
        Assert.Null(Sql.Rewriter.Plan(sql));
        Assert.Empty(Sql.Rewriter.FindCallSites(sql));
    }

    [Fact]
    public void DeeplyNestedCalls_AreAllFound_InnermostRewritable()
    {
        const int depth = 20_000;
        var sql = "SELECT " + string.Concat(Enumerable.Repeat("reflect(", depth)) + "'core'" + new string(')', depth);
        var sites = Sql.Sites(sql);
        Assert.Equal(depth, sites.Count);
        Assert.Equal(depth - 1, sites.Count(s => s.Kind == CallSiteKind.NotRewritable));
        Assert.Equal("core", sites[^1].LiteralText);
    }

    [Fact]
    public void ManyUnclosedCalls_AreAllRecordedAsUnclosed()
    {
        var sql = "SELECT " + string.Concat(Enumerable.Repeat("recall('x', ", 20_000));
        var sites = Sql.Sites(sql);
        Assert.Equal(20_000, sites.Count);
        Assert.All(sites, s => Assert.Equal(CallSiteKind.NotRewritable, s.Kind));
    }

    [Fact]
    public void LongRunOfSigns_LexesAsOneOperatorPerSign()
    {
        var sql = "SELECT 1 " + string.Concat(Enumerable.Repeat("+-", 50_000)) + " 1, reflect('x')";
        Assert.Equal("x", Sql.Single(sql).LiteralText);
    }

    [Theory]
    [InlineData("SELECT * FROM recall('x' ])")]
    [InlineData("SELECT * FROM recall(f(]), 'x')")]
    [InlineData("SELECT * FROM recall(f(1; 2), 'x')")]
    public void MismatchedBracketsOrSemicolonInsideTheCall_AreMalformed(string sql) =>
        Assert.Equal(CallSiteKind.NotRewritable, Assert.Single(Sql.Sites(sql), s => s.FunctionName == "recall").Kind);

    [Fact]
    public void ConfiguredFunctionsAndSchema_ReplaceTheDefaults()
    {
        var rewriter = new SqlRewriter(new RewriteOptions
        {
            Functions = [new MemoryFunction("search_notes", 1, "needle")],
            Schema = "notes",
        });
        var sites = Sql.Sites("SELECT * FROM notes.search_notes(1, 'a'), search_notes(needle => $1), recall('x'), memory.search_notes(1, 'b')", rewriter);
        Assert.Equal(2, sites.Count);
        Assert.Equal("a", sites[0].LiteralText);
        Assert.Equal(1, sites[1].ParameterNumber);
    }

    [Theory]
    [InlineData("Recall")]
    [InlineData("r")]
    [InlineData("re call")]
    [InlineData("")]
    public void BadFunctionName_IsRefusedWithItsName(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => new SqlRewriter(new RewriteOptions { Functions = [new MemoryFunction(name, 0, "query")] }));
        Assert.Contains($"'{name}'", e.Message);
    }

    [Fact]
    public void NegativeTextPosition_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new SqlRewriter(new RewriteOptions { Functions = [new MemoryFunction("recall", -1, "query")] }));
        Assert.Contains("recall", e.Message);
    }
}
