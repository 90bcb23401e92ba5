using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace MemorySql.Rewrite.Tests;

/// <summary>
/// PostgreSQL itself is the judge: rewritten statements must parse and run, every rewritten call must receive
/// its embedding, and the text the rewriter decoded must be byte for byte the text the routine received.
/// </summary>
public sealed class PostgresAcceptsRewrittenSqlTests : IClassFixture<RewriteDatabase>
{
    private readonly RewriteDatabase _db;

    public PostgresAcceptsRewrittenSqlTests(RewriteDatabase db) => _db = db;

    public static TheoryData<string> Literals() => [.. LiteralForms];

    private static readonly string[] LiteralForms =
    [
        "'plain'", "''", "'it''s'", "'back\\slash'", "'naïve café 日本 😀'", "'recall(''x'') -- no /* no */'",
        "E'\\n'", "e'a\\tb\\rc\\fd\\be'", "E'\\x41'", "E'\\x4g'", "E'\\xg'", "E'\\101\\60\\0601'", "E'\\xC3\\xA9'", "E'\\u00e9'",
        "E'\\U0001F600'", "E'\\uD83D\\uDE00'", "E'it\\'s'", "E'it''s'", "E'\\\\'", "E'\\q\\v'", "E'\\é'",
        "U&'d\\0061t\\+000061'", "u&'d!0061t' UESCAPE '!'", "U&'d!0061t!!' uescape '!'", "U&'a\\\\b'", "U&'\\D83D\\DE00'", "U&'it''s'",
        "U&'x#0079' /* c */ UESCAPE -- c\n '#'", "U&'\\0061'\n'!0062' UESCAPE '!'",
        "$$it's$$", "$tag$ $$ ' \\n $tag$", "$a$x$b$a$", "$ü$ü$ü$",
        "'a'\n'b'", "'a'  \r\n\t  'b'", "'a' -- comment\n-- another\n 'b'\n'c'", "E'a\\n'\n'\\x41'",
        "N'abc'", "n'abc   '", "N' a '", "N'a '\n'b  '",
        "'x'::text", "'x'::varchar", "CAST('x' AS character varying)", "('x')",
    ];

    [Theory]
    [MemberData(nameof(Literals))]
    public async Task DecodedLiteral_IsExactlyTheTextTheRoutineReceives(string literal)
    {
        var sql = $"SELECT encode(convert_to(content, 'UTF8'), 'hex') || '|' || embedded::int || '|' || coalesce(model, '') FROM recall({literal})";
        var plan = RewriteDatabase.Rewriter.PlanCore(sql);
        Assert.NotNull(plan);
        var decoded = Assert.Single(plan.LiteralTexts);
        var hex = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(decoded));

        var original = await _db.QueryAsync(sql);
        Assert.True(original.ExitCode == 0, original.Error);
        Assert.Equal($"{hex}|0|", original.Output.Trim('\n'));

        var rewritten = await _db.QueryAsync(plan.RenderWithLiterals([RewriteDatabase.Vector], RewriteDatabase.Model));
        Assert.True(rewritten.ExitCode == 0, rewritten.Error);
        Assert.Equal($"{hex}|1|{RewriteDatabase.Model}", rewritten.Output.Trim('\n'));
        await _db.TakeCallsAsync();
    }

    public static TheoryData<string> Statements() =>
    [
        "SELECT content FROM recall('where does Dana sit?', k => 5)",
        "SELECT * FROM recall('x')--comment",
        "SELECT*FROM recall('x')r",
        "SELECT * FROM recall(\n  'x' -- the question\n)",
        "SELECT * FROM recall('x' /* c */)",
        "SELECT * FROM recall /* c */ ('x'/* /* nested */ */)",
        "SELECT * FROM RECALL(query=>'q',k=>-1)",
        "SELECT * FROM recall(k := 2, query := 'q')",
        "SELECT * FROM rwtest.recall('q')",
        "SELECT * FROM \"rwtest\".\"recall\"('q')",
        "SELECT * FROM U&\"r\\0065call\"('q')",
        "SELECT reflect('why?') AS answer",
        "CALL remember('Dana prefers window seats', tags => '{travel}')",
        "CALL remember(tags => ARRAY['a', 'b'], content => 'named')",
        "CALL revise(1, 'revised text')",
        "CALL revise(content => 'by name', id => 2)",
        "SELECT r.content FROM (VALUES (1), (2)) v(i) CROSS JOIN LATERAL recall('lateral', k => v.i) r",
        "WITH hits AS (SELECT * FROM recall('cte')) SELECT content FROM hits",
        "SELECT (SELECT content FROM recall('scalar subquery') LIMIT 1)",
        "CREATE TEMP TABLE t AS SELECT content FROM recall('create as'); INSERT INTO t SELECT content FROM recall('insert select'); DROP TABLE t",
        "SELECT * FROM recall('a'); CALL remember('b');\nSELECT reflect('c'); SELECT 1",
        "SELECT * FROM recall('it''s') a, reflect(E'tab\\there') b, recall($$dollar$$) c, reflect(U&'\\00e9') d",
        "SELECT * FROM recall('same') AS a, recall('same') AS b",
        "DO $$ BEGIN PERFORM 1; END $$; SELECT reflect('after DO')",
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM recall('explained')",
        "SELECT * FROM recall('x'::text), reflect(CAST('y' AS varchar))",
    ];

    [Theory]
    [MemberData(nameof(Statements))]
    public async Task RewrittenStatement_RunsTheSameCallsEachWithItsEmbedding(string sql)
    {
        var plan = RewriteDatabase.Rewriter.PlanCore(sql);
        Assert.NotNull(plan);

        await _db.TakeCallsAsync();
        var original = await _db.QueryAsync(sql);
        Assert.True(original.ExitCode == 0, original.Error);
        var before = await _db.TakeCallsAsync();

        var rewrittenSql = plan.RenderWithLiterals([.. plan.LiteralTexts.Select(_ => RewriteDatabase.Vector)], RewriteDatabase.Model);
        var rewritten = await _db.QueryAsync(rewrittenSql);
        Assert.True(rewritten.ExitCode == 0, $"{rewritten.Error}\n{rewrittenSql}");
        var after = await _db.TakeCallsAsync();

        Assert.Equal(before.Select(c => (c.Fn, c.Text)), after.Select(c => (c.Fn, c.Text)));
        Assert.All(before, c => Assert.False(c.Embedded));
        Assert.All(after, c => Assert.Equal(new RewriteDatabase.LoggedCall(c.Fn, c.Text, true, 3, RewriteDatabase.Model), c));
        Assert.Equal(after.Select(c => c.Text).Distinct().Order(StringComparer.Ordinal), plan.LiteralTexts.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CallsOnColumns_RunUnchangedBesideRewrittenOnes()
    {
        const string sql = "SELECT r.content FROM (VALUES ('from a column')) v(q), LATERAL recall(v.q) r, reflect('literal') a, reflect(upper(reflect('inner'))) b";
        var plan = RewriteDatabase.Rewriter.PlanCore(sql)!;
        Assert.Equal([CallSiteKind.NotRewritable, CallSiteKind.Literal, CallSiteKind.NotRewritable, CallSiteKind.Literal], plan.CallSites.Select(s => s.Kind));
        var result = await _db.QueryAsync(plan.RenderWithLiterals([RewriteDatabase.Vector, RewriteDatabase.Vector], RewriteDatabase.Model));
        Assert.True(result.ExitCode == 0, result.Error);
        var calls = await _db.TakeCallsAsync();
        Assert.Contains(calls, c => c is { Text: "from a column", Embedded: false });
        Assert.Contains(calls, c => c is { Text: "literal", Embedded: true });
        Assert.Contains(calls, c => c is { Text: "inner", Embedded: true });
        Assert.Contains(calls, c => c is { Text: "INNER", Embedded: false });
    }

    [Fact]
    public async Task ExtendedProtocol_InjectedParameterCarriesTheEmbedding()
    {
        var plan = RewriteDatabase.Rewriter.PlanCore("SELECT content, embedded, model FROM recall($1, k => $2)")!;
        var rewrite = plan.RenderWithParameters([], RewriteDatabase.Model, Math.Max(plan.MaxParameterNumber, 2) + 1);
        Assert.Equal([new InjectedParameter(3, 1)], rewrite.InjectedParameters);

        await using var cmd = _db.Client.CreateCommand(rewrite.Sql);
        cmd.Parameters.Add(new NpgsqlParameter { Value = "bound text" });
        cmd.Parameters.Add(new NpgsqlParameter { Value = 2 });
        cmd.Parameters.Add(new NpgsqlParameter { Value = RewriteDatabase.Vector, NpgsqlDbType = NpgsqlDbType.Unknown });
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal("bound text", reader.GetString(0));
            Assert.True(reader.GetBoolean(1));
            Assert.Equal(RewriteDatabase.Model, reader.GetString(2));
        }
        Assert.Equal([new RewriteDatabase.LoggedCall("recall", "bound text", true, 3, RewriteDatabase.Model)], await _db.TakeCallsAsync());
    }

    [Fact]
    public async Task ExtendedProtocol_SharedParameterAndInlinedLiteralInOneStatement()
    {
        var plan = RewriteDatabase.Rewriter.PlanCore(
            "SELECT a.content, b.content, reflect('literal') FROM recall($2) a, recall(query => $2::text) b, recall(CAST($1 AS text)) c")!;
        var rewrite = plan.RenderWithParameters(["[4,5]"], RewriteDatabase.Model, plan.MaxParameterNumber + 1);
        Assert.Equal([new InjectedParameter(3, 2), new InjectedParameter(4, 1)], rewrite.InjectedParameters);

        await using var cmd = _db.Client.CreateCommand(rewrite.Sql);
        cmd.Parameters.Add(new NpgsqlParameter { Value = "first" });
        cmd.Parameters.Add(new NpgsqlParameter { Value = "second" });
        cmd.Parameters.Add(new NpgsqlParameter { Value = "[1,1,1,1,1,1]", NpgsqlDbType = NpgsqlDbType.Unknown });
        cmd.Parameters.Add(new NpgsqlParameter { Value = "[1]", NpgsqlDbType = NpgsqlDbType.Unknown });
        await cmd.ExecuteNonQueryAsync();

        var calls = await _db.TakeCallsAsync();
        Assert.Contains(new RewriteDatabase.LoggedCall("recall", "second", true, 6, RewriteDatabase.Model), calls);
        Assert.Contains(new RewriteDatabase.LoggedCall("recall", "first", true, 1, RewriteDatabase.Model), calls);
        Assert.Contains(new RewriteDatabase.LoggedCall("reflect", "literal", true, 2, RewriteDatabase.Model), calls);
        Assert.All(calls, c => Assert.True(c.Embedded));
    }

    [Fact]
    public async Task GeneratedCalls_WithRandomLayout_RunTheSameCallsEachWithItsEmbedding()
    {
        // Valid statements assembled at random from name spellings, literal forms, argument styles and
        // whitespace or comments between every pair of tokens; each must still run after the rewrite.
        var random = new Random(42);
        string[] recallNames = ["recall", "RECALL", "rwtest.recall", "\"rwtest\" . \"recall\"", "\"recall\"", "U&\"r\\0065call\""];
        string[] gaps = [" ", "", "\n", "\t", "/* c */", "-- c\n", "/* /* n */ */", " \r\n "];
        var literals = LiteralForms;
        string Gap() => gaps[random.Next(gaps.Length)];
        string Literal() => literals[random.Next(literals.Length)];
        string Call(string name, string textParameter = "query") => random.Next(3) switch
        {
            0 => $"{name}{Gap()}({Gap()}{Literal()}{Gap()})",
            1 => $"{name}{Gap()}({Gap()}{Literal()}{Gap()},{Gap()}k{Gap()}=>{Gap()}1{Gap()})",
            _ => $"{name}{Gap()}({Gap()}k{Gap()}:={Gap()}1{Gap()},{Gap()}{textParameter}{Gap()}=>{Gap()}{Literal()}{Gap()})",
        };
        for (var n = 0; n < 40; n++)
        {
            var statements = new List<string>();
            for (var s = random.Next(1, 3); s > 0; s--)
            {
                statements.Add(random.Next(4) switch
                {
                    0 => $"SELECT{Gap()} content FROM {Call(recallNames[random.Next(recallNames.Length)])}",
                    1 => $"SELECT {Call("reflect")}{Gap()},{Gap()}{Call("REFLECT")}",
                    2 => $"CALL {Call("remember", "content")}",
                    _ => $"SELECT * FROM {Call("recall")} a CROSS JOIN LATERAL {Call("rwtest.recall")} b",
                });
            }
            var sql = string.Join(random.Next(2) == 0 ? ";" : ";\n", statements);
            var plan = RewriteDatabase.Rewriter.PlanCore(sql);
            Assert.True(plan is not null, sql);
            Assert.All(plan.CallSites, site => Assert.Equal(CallSiteKind.Literal, site.Kind));

            await _db.TakeCallsAsync();
            var original = await _db.QueryAsync(sql);
            Assert.True(original.ExitCode == 0, $"{original.Error}\n{sql}");
            var before = await _db.TakeCallsAsync();
            var rewrittenSql = plan.RenderWithLiterals([.. plan.LiteralTexts.Select(_ => RewriteDatabase.Vector)], RewriteDatabase.Model);
            var rewritten = await _db.QueryAsync(rewrittenSql);
            Assert.True(rewritten.ExitCode == 0, $"{rewritten.Error}\n{rewrittenSql}");
            var after = await _db.TakeCallsAsync();
            Assert.Equal(before.Select(c => (c.Fn, c.Text)), after.Select(c => (c.Fn, c.Text)));
            Assert.All(after, c => Assert.True(c.Embedded, $"{c} in {rewrittenSql}"));
        }
    }
}
