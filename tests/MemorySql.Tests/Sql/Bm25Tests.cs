using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Tests.Sql;

/// <summary>BM25 on a small corpus, checked against the Okapi formula computed here.</summary>
public sealed class Bm25Tests : IClassFixture<TestDatabase>
{
    private const double K1 = 1.2;
    private const double B = 0.75;
    private readonly TestDatabase _db;

    public Bm25Tests(TestDatabase db) => _db = db;

    // The 'simple' text search configuration lower-cases and splits on non-letters, nothing else.
    private static readonly string[] Corpus =
    [
        "apple banana apple",
        "banana cherry",
        "cherry date elderberry fig",
        "apple",
    ];

    private static double Bm25(string[][] docs, string[] doc, string[] query)
    {
        var n = docs.Length;
        var avgdl = docs.Average(d => d.Length);
        double score = 0;
        foreach (var term in query.Distinct())
        {
            var df = docs.Count(d => d.Contains(term));
            var tf = doc.Count(t => t == term);
            if (tf == 0) continue;
            var idf = Math.Log(1 + (n - df + 0.5) / (df + 0.5));
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * doc.Length / avgdl));
        }
        return score;
    }

    private async Task<TestRole> CorpusWorkspaceAsync(string hint)
    {
        var ws = await _db.CreateWorkspaceAsync(hint);
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"text_search_config\": \"simple\"}')", ws.Name);
        foreach (var text in Corpus) await ws.ExecuteAsync("CALL remember($1)", text);
        return ws;
    }

    [Fact]
    public async Task Recall_Bm25Column_MatchesOkapiFormula()
    {
        var ws = await CorpusWorkspaceAsync("bm25_formula");
        var docs = Corpus.Select(c => c.Split(' ')).ToArray();
        var query = new[] { "apple", "cherry" };
        var rows = await ws.DataSource.QueryAsync("SELECT content, bm25 FROM recall('apple cherry', k => 10)");
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
        {
            var doc = ((string)row["content"]!).Split(' ');
            Assert.Equal(Bm25(docs, doc, query), (float)row["bm25"]!, 4);
        }
    }

    [Fact]
    public async Task Bm25_OnlyActiveMemoriesCountInStatistics()
    {
        var ws = await CorpusWorkspaceAsync("bm25_active");
        var third = await ws.ScalarAsync<Guid>("SELECT id FROM memory.memories WHERE content = $1", Corpus[2]);
        await ws.ExecuteAsync("CALL forget($1)", third);
        var docs = Corpus.Where((_, i) => i != 2).Select(c => c.Split(' ')).ToArray();
        var rows = await ws.DataSource.QueryAsync("SELECT m.content, b.bm25 FROM memory.bm25('cherry apple', ARRAY(SELECT id FROM memory.memories)) b JOIN memory.memories m ON m.id = b.memory_id");
        Assert.Equal(3, rows.Count);
        foreach (var row in rows)
            Assert.Equal(Bm25(docs, ((string)row["content"]!).Split(' '), ["cherry", "apple"]), (float)row["bm25"]!, 4);
    }

    [Fact]
    public async Task Recall_Bm25Column_EqualsMemoryBm25_ToTheLastBit()
    {
        // One formula (memory.bm25_doc) for both, with the same statistics: not merely close, equal.
        var ws = await CorpusWorkspaceAsync("bm25_same");
        var rows = await ws.DataSource.QueryAsync("""
            SELECT r.bm25 AS recalled, b.bm25 AS direct
              FROM recall('apple cherry banana', k => 10) r
              JOIN memory.bm25('apple cherry banana', ARRAY(SELECT id FROM memory.memories)) b ON b.memory_id = r.id
            """);
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.Equal((float)r["direct"]!, (float)r["recalled"]!));
    }

    [Fact]
    public async Task Bm25_RareTermOutweighsCommonTerm()
    {
        var ws = await CorpusWorkspaceAsync("bm25_idf");
        var rows = await ws.DataSource.QueryAsync("SELECT content FROM recall('banana fig', k => 10)");
        Assert.Equal("cherry date elderberry fig", rows[0]["content"]);
    }

    [Fact]
    public async Task LexicalStatistics_AfterRevisionsAndForgetting_EqualAFreshCount()
    {
        var ws = await CorpusWorkspaceAsync("bm25_consistent");
        var first = await ws.ScalarAsync<Guid>("SELECT id FROM memory.memories WHERE content = $1", Corpus[0]);
        await ws.ExecuteAsync("CALL revise($1, 'apple pie')", first);
        var fourth = await ws.ScalarAsync<Guid>("SELECT id FROM memory.memories WHERE content = $1", Corpus[3]);
        await ws.ExecuteAsync("CALL forget($1, hard => true)", fourth);
        var mismatches = await _db.ScalarAsync<long>("""
            WITH expected AS (SELECT l.lexeme AS term, count(*) AS df FROM memory.memories m, unnest(m.lexical) l
                               WHERE m.workspace = $1 AND m.status = 'active' GROUP BY l.lexeme),
                 actual AS (SELECT term, sum(df) AS df FROM memory.lexical_terms WHERE workspace = $1 GROUP BY term HAVING sum(df) <> 0)
            SELECT count(*) FROM expected e FULL JOIN actual a USING (term) WHERE e.df IS DISTINCT FROM a.df
            """, ws.Name);
        Assert.Equal(0L, mismatches);
        Assert.Equal(3L, await _db.ScalarAsync<long>("SELECT sum(docs)::bigint FROM memory.lexical_stats WHERE workspace = $1", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_postings WHERE memory_id = $1", fourth));
    }

    [Fact]
    public async Task LexicalStatistics_ManyWritesSavepointsAndImmediateConstraints_StayExact()
    {
        var ws = await _db.CreateWorkspaceAsync("bm25_tx");
        await using (var conn = await ws.OpenAsync())
        {
            await using var tx = await conn.BeginTransactionAsync();
            await conn.ExecAsync("SELECT count(*) FROM generate_series(1, 50) g, memory.store('bulk word ' || g) s");
            await conn.ExecAsync("SAVEPOINT s");
            await conn.ExecAsync("SELECT count(*) FROM generate_series(1, 10) g, memory.store('rolled back word ' || g) s");
            await conn.ExecAsync("ROLLBACK TO SAVEPOINT s");
            await conn.ExecAsync("SET CONSTRAINTS ALL IMMEDIATE");
            await conn.ExecAsync("SELECT count(*) FROM generate_series(1, 5) g, memory.store('immediate word ' || g) s");
            var first = await conn.ScalarAsync<Guid>("SELECT id FROM memory.memories WHERE content = 'bulk word 1'");
            await conn.ExecAsync("CALL forget($1)", first);
            await tx.CommitAsync();
        }
        Assert.Equal(54L, await _db.ScalarAsync<long>("SELECT sum(docs)::bigint FROM memory.lexical_stats WHERE workspace = $1", ws.Name));
        Assert.Equal(54L, await _db.ScalarAsync<long>("SELECT sum(df)::bigint FROM memory.lexical_terms WHERE workspace = $1 AND term = 'word'", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT sum(df)::bigint FROM memory.lexical_terms WHERE workspace = $1 AND term = 'roll'", ws.Name));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_pending"));
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.lexical_flush"));
    }

    [Theory]
    [InlineData("o'neil")]
    [InlineData(@"c:\temp")]
    [InlineData("two words")]
    [InlineData("a|b & !c:*")]
    public async Task LexemeQuery_MatchesAVectorWithAnyLexeme_TakenAsIs(string lexeme)
    {
        // Recall tests candidates with it before computing BM25: quotes, backslashes, spaces and tsquery
        // operators in a lexeme must neither break it nor change what it matches.
        Assert.True(await _db.ScalarAsync<bool>("SELECT array_to_tsvector(ARRAY[$1]) @@ memory.lexeme_query(ARRAY['other', $1])", lexeme));
        Assert.False(await _db.ScalarAsync<bool>("SELECT array_to_tsvector(ARRAY['other', 'more']) @@ memory.lexeme_query(ARRAY[$1])", lexeme));
        Assert.False(await _db.ScalarAsync<bool>("SELECT array_to_tsvector(ARRAY[$1 || 'x']) @@ memory.lexeme_query(ARRAY[$1])", lexeme));
    }

    [Fact]
    public async Task LexemeQuery_InASessionWithStandardConformingStringsOff_CompilesAndMatches()
    {
        // PL/pgSQL compiles a body on its first call in a session, under that session's settings: a backslash
        // in a plain string literal of the body broke it for clients that turn standard_conforming_strings off.
        var fresh = new NpgsqlConnectionStringBuilder(_db.AdminConnectionString) { Pooling = false }.ConnectionString;
        await using var connection = new NpgsqlConnection(fresh);
        await connection.OpenAsync();
        await using (var set = new NpgsqlCommand("SET standard_conforming_strings = off", connection))
            await set.ExecuteNonQueryAsync();
        await using var command = new NpgsqlCommand("SELECT array_to_tsvector(ARRAY[$1]) @@ memory.lexeme_query(ARRAY['other', $1])", connection);
        command.Parameters.AddWithValue("back\\slash'quote");
        Assert.Equal(true, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task LexemeQuery_OfNoLexemes_IsNull()
    {
        Assert.True(await _db.ScalarAsync<bool>("SELECT memory.lexeme_query('{}') IS NULL AND memory.lexeme_query(ARRAY['']) IS NULL"));
    }
}
