using System.Text;

namespace MemorySql.Rewrite.Tests;

public sealed class PrefilterTests
{
    private static readonly MemoryCallPrefilter Prefilter = MemoryCallPrefilter.Default;

    [Theory]
    [InlineData("SELECT abalance FROM pgbench_accounts WHERE aid = $1;")]
    [InlineData("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;")]
    [InlineData("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;")]
    [InlineData("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;")]
    [InlineData("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);")]
    [InlineData("BEGIN;")]
    [InlineData("END;")]
    [InlineData("SELECT recall FROM t WHERE recall = 1")]
    [InlineData("SELECT my_recall('x'), recall_all('y'), recalled(1)")]
    [InlineData("SELECT remembering, revised, reflection FROM t")]
    [InlineData("SELECT 'where recall is referenced' FROM t")]
    [InlineData("")]
    [InlineData("re")]
    [InlineData("recall")]
    public void OrdinaryTraffic_IsRejected(string sql) => Assert.False(Prefilter.MightContainCall(Encoding.UTF8.GetBytes(sql)));

    [Theory]
    [InlineData("SELECT * FROM recall('x')")]
    [InlineData("select * from RECALL ('x')")]
    [InlineData("CALL remember($1)")]
    [InlineData("CALL Revise($1, $2)")]
    [InlineData("SELECT reflect('x')")]
    [InlineData("SELECT * FROM memory.recall('x')")]
    [InlineData("SELECT * FROM \"recall\"('x')")]
    [InlineData("SELECT * FROM \"memory\".\"recall\" ('x')")]
    [InlineData("SELECT * FROM recall\n\t(\n'x')")]
    [InlineData("SELECT * FROM recall/**/('x')")]
    [InlineData("SELECT * FROM recall-- c\n('x')")]
    [InlineData("SELECT * FROM U&\"r\\0065call\"('x')")]
    [InlineData("recall(")]
    public void EveryWayOfWritingACall_IsAHit(string sql) => Assert.True(Prefilter.MightContainCall(Encoding.UTF8.GetBytes(sql)));

    [Fact]
    public void NameAtEveryOffsetAcrossVectorBoundaries_IsFound()
    {
        for (var padding = 0; padding < 80; padding++)
        {
            var sql = new string('x', padding) + " RECALL(" + new string(' ', padding % 7);
            Assert.True(Prefilter.MightContainCall(Encoding.UTF8.GetBytes(sql)), $"padding {padding}");
            var miss = new string('x', padding) + " RECALLS(";
            Assert.False(Prefilter.MightContainCall(Encoding.UTF8.GetBytes(miss)), $"padding {padding}");
        }
    }

    [Theory]
    [InlineData("SELECT $$x$$recall('y')")]
    [InlineData("SELECT $a$x$a$RECALL('y')")]
    public void DollarQuoteEndingRightBeforeTheName_IsAHit(string sql) => Assert.True(Prefilter.MightContainCall(Encoding.UTF8.GetBytes(sql)));

    [Fact]
    public void NonAsciiCharacterBeforeTheName_MakesItPartOfAnIdentifier()
    {
        Assert.False(Prefilter.MightContainCall(Encoding.UTF8.GetBytes("SELECT érecall('x')")));
        Assert.True(Prefilter.MightContainCall(Encoding.UTF8.GetBytes("SELECT 'é', recall('x')")));
    }

    [Fact]
    public void ConfiguredNames_AreTheOnesSearched()
    {
        var prefilter = new MemoryCallPrefilter(["search_notes", "ab"]);
        Assert.True(prefilter.MightContainCall("SELECT * FROM SEARCH_NOTES($1)"u8));
        Assert.True(prefilter.MightContainCall("SELECT ab(1)"u8));
        Assert.False(prefilter.MightContainCall("SELECT * FROM recall('x')"u8));
    }

    [Fact]
    public void RandomBytes_AgreeWithAPlainScalarSearch()
    {
        var random = new Random(1234);
        var pieces = new[] { "recall", "RECALL", "ReMeMbEr", "revise", "reflect", "re", "(", " ", "\n", "_", "x", "\"", "U&\"", "&\"", "--", "/*", "é", "$", "1", "r" };
        for (var n = 0; n < 20_000; n++)
        {
            var builder = new StringBuilder();
            var count = random.Next(0, 30);
            for (var k = 0; k < count; k++) builder.Append(pieces[random.Next(pieces.Length)]);
            var bytes = Encoding.UTF8.GetBytes(builder.ToString());
            Assert.True(Reference(bytes) == Prefilter.MightContainCall(bytes), builder.ToString());
        }
    }

    /// <summary>The rule the vectorised search implements, written the obvious way.</summary>
    private static bool Reference(byte[] sql)
    {
        var text = Encoding.Latin1.GetString(sql);
        if (text.Length <= 3) return false; // three bytes hold no call (the shortest is "ab(" for a two-letter name)
        for (var i = 0; i + 2 < text.Length + 1; i++)
        {
            // U&" followed by at least one character (a quoted identifier with escapes may spell a name).
            if (i > 0 && i + 2 < text.Length && text[i] == '&' && text[i + 1] == '"' && char.ToLowerInvariant(text[i - 1]) == 'u') return true;
            if (i > 0 && (text[i - 1] >= 0x80 || char.IsAsciiLetter(text[i - 1]) || text[i - 1] == '_')) continue;
            foreach (var name in new[] { "recall", "remember", "revise", "reflect" })
            {
                if (i + name.Length > text.Length || !string.Equals(text.Substring(i, name.Length), name, StringComparison.OrdinalIgnoreCase)) continue;
                var j = i + name.Length;
                if (j < text.Length && IsIdentifierChar(text[j])) continue;
                if (j < text.Length && text[j] == '"') j++;
                while (j < text.Length && text[j] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v') j++;
                if (j < text.Length && text[j] == '(') return true;
                if (j + 1 < text.Length && ((text[j] == '-' && text[j + 1] == '-') || (text[j] == '/' && text[j + 1] == '*'))) return true;
            }
        }
        return false;
    }

    private static bool IsIdentifierChar(char c) => c >= 0x80 || char.IsAsciiLetterOrDigit(c) || c is '_' or '$';
}
