using System.Text;

namespace MemorySql.Rewrite.Tests;

/// <summary>
/// Thousands of SQL-ish strings built from tokens that stress the lexer (half-open strings and comments
/// included): the rewriter never throws, the prefilter never misses a call the lexer finds, and rendering
/// only ever adds the embedding arguments.
/// </summary>
public sealed class FuzzTests
{
    private static readonly string[] Pieces =
    [
        "recall", "RECALL", "remember", "revise", "reflect", "memory", "\"memory\"", "\"recall\"", "x", "my_recall", "U&\"r\\0065call\"",
        "(", ")", "(", ")", ",", ";", ".", "::", "::text", "=>", ":=", "=>-", "+", "-", "*", "/", "||", "[", "]",
        " ", " ", "\n", "\t", "-- c\n", "--", "/* c */", "/* /* n */ */", "/*", "*/",
        "'a'", "'it''s'", "''", "'", "E'\\n'", "E'\\''", "e'\\x41'", "E'\\u00e9'", "E'", "U&'d\\0061t'", "U&'d!0061' UESCAPE '!'", "UESCAPE", "N'n '",
        "B'01'", "X'1F'", "'a'\n'b'", "$$", "$$x$$", "$a$ recall('y') $a$", "$a$", "$1", "$2", "$10", "$", "1", "1.5e3", ".5", "0x1F",
        "k", "query", "content", "_embedding", "_model", "SELECT", "FROM", "CALL", "FUNCTION", "CREATE", "BEGIN", "ATOMIC", "END", "CASE", "PREPARE", "AS",
        "CAST", "text", "\\", "\"", "é", "😀", "\r",
    ];

    public static IEnumerable<object[]> Seeds() => Enumerable.Range(0, 8).Select(seed => new object[] { seed });

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RandomSql_NeverThrows_AndRewritesOnlyByAddingArguments(int seed)
    {
        var random = new Random(seed);
        for (var n = 0; n < 2_500; n++)
        {
            var sql = RandomSql(random);
            CheckOne(sql);
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void CallShapedSql_NeverThrows_AndRewritesOnlyByAddingArguments(int seed)
    {
        // Mostly well-formed calls with random arguments, so that rendering is exercised often.
        var random = new Random(1000 + seed);
        string[] names = ["recall", "memory.recall", "REFLECT", "\"remember\"", "revise"];
        string[] arguments = ["'x'", "$1", "$2::text", "E'\\n'", "query => $3", "content => 'c'", "k => 5", "x", "'a'\n'b'", "$$d$$", "(1 + 2)", "ARRAY[1,2]", "CAST($1 AS text)"];
        for (var n = 0; n < 2_500; n++)
        {
            var builder = new StringBuilder("SELECT ");
            var calls = random.Next(1, 4);
            for (var c = 0; c < calls; c++)
            {
                if (c > 0) builder.Append(random.Next(3) == 0 ? "; SELECT " : ", ");
                builder.Append(names[random.Next(names.Length)]).Append(random.Next(4) == 0 ? " /* c */ (" : "(");
                var count = random.Next(0, 4);
                for (var a = 0; a < count; a++)
                {
                    if (a > 0) builder.Append(random.Next(2) == 0 ? "," : " ,\n");
                    builder.Append(random.Next(8) == 0 ? RandomSql(random) : arguments[random.Next(arguments.Length)]);
                }
                builder.Append(random.Next(6) == 0 ? "-- end\n)" : ")");
            }
            CheckOne(builder.ToString());
        }
    }

    private static void CheckOne(string sql)
    {
        List<MemoryCallSite>? sites;
        RewritePlan? plan;
        try
        {
            sites = Sql.Rewriter.FindCallSitesCore(sql);
            plan = Sql.Rewriter.PlanCore(sql);
        }
        catch (Exception e)
        {
            Assert.Fail($"{e.GetType().Name} for {Show(sql)}: {e}");
            return;
        }

        // The prefilter may say yes too often, never too rarely.
        if (sites is { Count: > 0 })
            Assert.True(MemoryCallPrefilter.Default.MightContainCall(Encoding.UTF8.GetBytes(sql)), $"prefilter missed a call in {Show(sql)}");
        if (plan is null) return;

        // Simple protocol: the output has the same calls; literal ones now carry the embedding, the rest are unchanged.
        var simple = Sql.RenderLiterals(plan);
        Assert.Equal(sql, RemoveInserted(simple));
        var simpleSites = Sql.Rewriter.FindCallSitesCore(simple);
        Assert.True(simpleSites is not null, $"rendered SQL does not lex: {Show(simple)}");
        Assert.Equal(plan.CallSites.Select(s => s.Kind == CallSiteKind.Literal ? CallSiteKind.AlreadyRewritten : s.Kind), simpleSites.Select(s => s.Kind));

        // Extended protocol: every literal and parameter call now carries it, and the new parameters follow the old.
        var first = plan.MaxParameterNumber + 1;
        var extended = Sql.RenderParameters(plan, first);
        Assert.Equal(sql, RemoveInserted(extended.Sql));
        var extendedSites = Sql.Rewriter.FindCallSitesCore(extended.Sql);
        Assert.True(extendedSites is not null, $"rendered SQL does not lex: {Show(extended.Sql)}");
        Assert.Equal(
            plan.CallSites.Select(s => s.Kind is CallSiteKind.Literal or CallSiteKind.Parameter ? CallSiteKind.AlreadyRewritten : s.Kind),
            extendedSites.Select(s => s.Kind));
        Assert.Equal(plan.TextParameters.Count, extended.InjectedParameters.Count);
        Assert.Null(Sql.Rewriter.PlanCore(extended.Sql));
    }

    /// <summary>Strips every inserted ", _embedding => … , _model => 'm'" (the vectors are [n], the model is m).</summary>
    private static string RemoveInserted(string sql) =>
        System.Text.RegularExpressions.Regex.Replace(sql, @", _embedding => (?:'\[\d+\]'|\$\d+)::vector, _model => 'm'", "");

    private static string RandomSql(Random random)
    {
        var builder = new StringBuilder();
        var count = random.Next(0, 24);
        for (var k = 0; k < count; k++)
        {
            builder.Append(Pieces[random.Next(Pieces.Length)]);
            if (random.Next(3) == 0) builder.Append(' ');
        }
        return builder.ToString();
    }

    private static string Show(string sql) => "«" + sql.Replace("\n", "\\n", StringComparison.Ordinal) + "»";
}
