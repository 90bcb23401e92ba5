using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

/// <summary>recall's ranking and weights arguments, and the context and entity signals.</summary>
public sealed class RecallSignalsTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public RecallSignalsTests(TestDatabase db) => _db = db;

    private static string[] Signals(Dictionary<string, object?> row) => (string[])row["signals"]!;

    private async Task<TestRole> WorkspaceWithVectorsAsync(string hint)
    {
        await _db.ExecuteAsync("SELECT memory.register_model('sig-v3', 3)");
        var ws = await _db.CreateWorkspaceAsync(hint);
        await ws.ExecuteAsync("CALL remember('sunrise over the harbour', _embedding => '[1,0,0]'::vector, _model => 'sig-v3')");
        await ws.ExecuteAsync("CALL remember('the harbour at midnight', _embedding => '[0,0,1]'::vector, _model => 'sig-v3')");
        return ws;
    }

    [Fact]
    public async Task Recall_RankingLexical_IgnoresTheQueryVector()
    {
        var ws = await WorkspaceWithVectorsAsync("sig_lex");
        var rows = await ws.DataSource.QueryAsync(
            "SELECT * FROM recall('harbour midnight', k => 2, ranking => '{lexical}', _embedding => '[1,0,0]'::vector, _model => 'sig-v3')");
        Assert.Equal("the harbour at midnight", rows[0]["content"]);
        Assert.Equal(new[] { "lexical" }, Signals(rows[0]));
        Assert.Null(rows[0]["similarity"]);
        // Lexical only: the score is the lexical component itself.
        Assert.All(rows, r => Assert.Equal((float)r["lexical"]!, (float)r["score"]!, 5));
    }

    [Fact]
    public async Task Recall_RankingVector_IgnoresLexicalMatches()
    {
        var ws = await WorkspaceWithVectorsAsync("sig_vec");
        var rows = await ws.DataSource.QueryAsync(
            "SELECT * FROM recall('harbour midnight', k => 2, ranking => '{vector}', _embedding => '[1,0,0]'::vector, _model => 'sig-v3')");
        Assert.Equal("sunrise over the harbour", rows[0]["content"]);
        Assert.Contains("vector", Signals(rows[0]));
        Assert.DoesNotContain("lexical", Signals(rows[0]));
        Assert.Equal(1f, (float)rows[0]["score"]!, 4);
    }

    [Fact]
    public async Task Recall_Weights_ReplaceThePolicyForOneCall()
    {
        var ws = await WorkspaceWithVectorsAsync("sig_weights");
        // All weight on vector similarity: the vector's favourite wins although the text matches the other.
        var byVector = await ws.DataSource.QueryAsync(
            "SELECT content FROM recall('harbour midnight', k => 1, weights => '{\"vector\": 1, \"lexical\": 0.01, \"importance\": 0, \"recency\": 0}', _embedding => '[1,0,0]'::vector, _model => 'sig-v3')");
        Assert.Equal("sunrise over the harbour", byVector[0]["content"]);
        var byText = await ws.DataSource.QueryAsync(
            "SELECT content FROM recall('harbour midnight', k => 1, weights => '{\"vector\": 0.01, \"lexical\": 1}', _embedding => '[1,0,0]'::vector, _model => 'sig-v3')");
        Assert.Equal("the harbour at midnight", byText[0]["content"]);
    }

    [Theory]
    [InlineData("ranking => '{importance}'", "ranking")]
    [InlineData("ranking => '{speed}'", "ranking")]
    [InlineData("weights => '{\"speed\": 1}'", "weights")]
    [InlineData("weights => '{\"vector\": -1}'", "weights")]
    [InlineData("weights => '{\"vector\": \"high\"}'", "weights")]
    [InlineData("weights => '[1, 2]'", "weights")]
    [InlineData("weights => '{\"vector\": 0, \"lexical\": 0}'", "weights")]
    public async Task Recall_BadRankingOrWeights_Fails22023NamingTheArgument(string argument, string name)
    {
        var ws = await _db.CreateWorkspaceAsync("sig_bad_" + name + Math.Abs(argument.GetHashCode(StringComparison.Ordinal)) % 1000);
        await ws.ExecuteAsync("CALL remember('something to find')");
        var error = await ws.DataSource.FailsAsync($"SELECT * FROM recall('something', {argument})");
        Assert.Equal("22023", error.SqlState);
        Assert.Contains(name, error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recall_Context_FindsTheAnswerTurnNextToTheQuestionTurn()
    {
        var ws = await _db.CreateWorkspaceAsync("sig_context");
        await using var conn = await ws.OpenAsync();
        await conn.ScalarAsync<Guid>("SELECT session_start()");
        var t0 = DateTime.UtcNow.AddDays(-3);
        await conn.ExecAsync("CALL remember('Morning! Did you sleep well?', entity => 'ann', valid_from => $1)", t0);
        await conn.ExecAsync("CALL remember('What did you cook for the party yesterday?', entity => 'ann', valid_from => $1)", t0.AddSeconds(1));
        var answer = await conn.ScalarAsync<Guid>("CALL remember('A huge pot of chili, everybody loved it.', entity => 'bob', valid_from => $1)", t0.AddSeconds(2));
        await conn.ExecAsync("CALL remember('The weather is turning cold.', entity => 'bob', valid_from => $1)", t0.AddSeconds(3));
        await conn.ExecAsync("RESET memory.session");
        // Another session: its turns are no one's neighbours.
        await conn.ScalarAsync<Guid>("SELECT session_start()");
        await conn.ExecAsync("CALL remember('We should cook together some day.', entity => 'ann', valid_from => $1)", t0.AddDays(1));
        await conn.ExecAsync("RESET memory.session");

        var rows = await conn.QueryAsync("SELECT * FROM recall('what did bob cook for the party', k => 3)");
        var chili = rows.Single(r => (Guid)r["id"]! == answer);
        Assert.Equal(0f, (float)chili["bm25"]!); // no word in common with the question...
        Assert.True((float)chili["context"]! > 0); // ...but the turn before it matches
        Assert.Contains("context", Signals(rows[0]));
        Assert.Equal(1f, (float)chili["entity_match"]!); // the question names its speaker
        Assert.Contains("entity", Signals(rows[0]));

        // Without the context signal the answer turn is no candidate at all.
        var plain = await conn.QueryAsync("SELECT id FROM recall('what did bob cook for the party', k => 3, ranking => '{lexical}')");
        Assert.DoesNotContain(plain, r => (Guid)r["id"]! == answer);
    }

    [Fact]
    public async Task Recall_WithoutSessions_LeavesContextOut_AndScoreStaysTheWeightedSum()
    {
        var ws = await _db.CreateWorkspaceAsync("sig_nocontext");
        await ws.ExecuteAsync("CALL remember('pears and apples')");
        var row = (await ws.DataSource.QueryAsync("SELECT * FROM recall('apples', k => 1)")).Single();
        Assert.DoesNotContain("context", Signals(row));
        Assert.Equal(0f, (float)row["context"]!);
        var settings = (await _db.Admin.QueryAsync("SELECT * FROM memory.recall_settings($1)", ws.Name)).Single();
        var expected = ((double)settings["weight_lexical"]! * (float)row["lexical"]! + (double)settings["weight_importance"]! * (float)row["importance"]!
                        + (double)settings["weight_recency"]! * (float)row["recency"]!)
                       / ((double)settings["weight_lexical"]! + (double)settings["weight_importance"]! + (double)settings["weight_recency"]!);
        Assert.Equal(expected, (float)row["score"]!, 4);
    }

    [Fact]
    public async Task Recall_QueryNamingAnEntity_MatchesTheEntityNotTheText()
    {
        var ws = await _db.CreateWorkspaceAsync("sig_entity");
        var own = await ws.ScalarAsync<Guid>("CALL remember('I finally booked the window seat', entity => 'Dana')");
        await ws.ExecuteAsync("CALL remember('Dana, Dana, you always take the window seat!', entity => 'Kim')");
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('which seat did Dana book?', k => 2)");
        Assert.Equal(own, rows[0]["id"]);
        Assert.Equal(1f, (float)rows[0]["entity_match"]!);
        Assert.Equal(0f, (float)rows[1]["entity_match"]!);
        // The name is no lexical term: Kim's turn does not gain from repeating it.
        Assert.DoesNotContain(rows, r => (float)r["bm25"]! > (float)rows[0]["bm25"]! + 1e-6f && (Guid)r["id"]! != own);
        // With an entity filter the name is searched in the text as usual.
        var filtered = await ws.DataSource.QueryAsync("SELECT * FROM recall('Dana', k => 2, entity => 'Kim')");
        Assert.Single(filtered);
        Assert.True((float)filtered[0]["bm25"]! > 0);
    }

    [Fact]
    public async Task Recall_QueryOfNothingButAName_SearchesTheNameInTheText()
    {
        var ws = await _db.CreateWorkspaceAsync("sig_only_name");
        await ws.ExecuteAsync("CALL remember('I finally booked the window seat', entity => 'Dana')");
        var mention = await ws.ScalarAsync<Guid>("CALL remember('Dana, Dana, you always take the window seat!', entity => 'Kim')");
        // No other word to search: the name is a lexical term after all (left out, the query would have none).
        var rows = await ws.DataSource.QueryAsync("SELECT * FROM recall('Dana?', k => 2)");
        Assert.Equal(mention, Assert.Single(rows)["id"]);
        Assert.True((float)rows[0]["bm25"]! > 0);
        Assert.Contains("lexical", Signals(rows[0]));
    }

    [Fact]
    public async Task Recall_ContextCandidates_LimitsWhoseSessionNeighboursGiveContext()
    {
        // Two sessions, each a relevant turn followed by an unrelated one. With recall.context_candidates = 1 only
        // the most relevant turn (A) is probed, so only its follower gets context; with 2, C's follower does too.
        await _db.ExecuteAsync("SELECT memory.register_model('sig-ctxn', 3)");
        var ws = await _db.CreateWorkspaceAsync("sig_ctx_n");
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"text_search_config\": \"simple\", \"recall.context_candidates\": 1}')", ws.Name);
        await using var conn = await ws.OpenAsync();
        const string Remember = "CALL remember($1, _embedding => $2::vector, _model => 'sig-ctxn')";
        await conn.ScalarAsync<Guid>("SELECT session_start()");
        await conn.ExecAsync(Remember, "alpha alpha", "[1,0,0]");
        var afterA = await conn.ScalarAsync<Guid>(Remember, "unrelated words one", "[0,0,1]");
        await conn.ExecAsync("RESET memory.session");
        await conn.ScalarAsync<Guid>("SELECT session_start()");
        await conn.ExecAsync(Remember, "alpha", "[0.6,0.8,0]");
        var afterC = await conn.ScalarAsync<Guid>(Remember, "unrelated words two", "[0,0,1]");
        await conn.ExecAsync("RESET memory.session");

        const string Recall = "SELECT id, context FROM recall('alpha', k => 4, _embedding => '[1,0,0]'::vector, _model => 'sig-ctxn')";
        var one = (await conn.QueryAsync(Recall)).ToDictionary(r => (Guid)r["id"]!, r => (float)r["context"]!);
        Assert.True(one[afterA] > 0, "the most relevant turn's follower gets context");
        Assert.Equal(0f, one[afterC]);

        await _db.ExecuteAsync("UPDATE memory.policies SET settings = settings || '{\"recall.context_candidates\": 2}' WHERE workspace = $1", ws.Name);
        var two = (await conn.QueryAsync(Recall)).ToDictionary(r => (Guid)r["id"]!, r => (float)r["context"]!);
        Assert.True(two[afterA] > 0);
        Assert.True(two[afterC] > 0, "with two probes the second relevant turn's follower gets context too");
    }

    [Fact]
    public async Task Recall_SessionNeighbourJoiningThroughContext_IsScoredLikeAnyCandidate()
    {
        // One context probe (recall.candidates = 1) and k = 4: the postings cut-off keeps the long turn B out of
        // the lexical candidates and its vector keeps it out of the vector ones; it joins as the neighbour of A.
        await _db.ExecuteAsync("SELECT memory.register_model('sig-ctx3', 3)");
        var ws = await _db.CreateWorkspaceAsync("sig_ctx_scored");
        await _db.ExecuteAsync("INSERT INTO memory.policies (workspace, settings) VALUES ($1, '{\"text_search_config\": \"simple\", \"recall.candidates\": 1}')", ws.Name);
        await using var conn = await ws.OpenAsync();
        const string Remember = "CALL remember($1, importance => $2, _embedding => $3::vector, _model => 'sig-ctx3')";
        await conn.ExecAsync(Remember, "party party party", 0.5f, "[1,0,0]");
        await conn.ExecAsync(Remember, "party people party", 0.5f, "[0.95,0.05,0]");
        await conn.ExecAsync(Remember, "party time", 0.5f, "[0.9,0.1,0]");
        await conn.ScalarAsync<Guid>("SELECT session_start()");
        var a = await conn.ScalarAsync<Guid>("CALL remember($1, importance => $2, _embedding => $3::vector, _model => 'sig-ctx3')", "party party", 0.5f, "[1,0.02,0]");
        var b = await conn.ScalarAsync<Guid>("CALL remember($1, importance => $2, _embedding => $3::vector, _model => 'sig-ctx3')",
            "we talked about the party for a long while and then went home", 0.8f, "[0.2,0,1]");
        await conn.ExecAsync("RESET memory.session");
        await conn.ExecAsync("UPDATE memory.memories SET access_count = 3, created_at = now() - interval '40 days', last_accessed_at = now() - interval '20 days' WHERE id = $1", b);

        const string Recall = "SELECT * FROM recall('party', k => 4, _embedding => '[1,0,0]'::vector, _model => 'sig-ctx3')";
        var rows = await conn.QueryAsync(Recall);
        var lexicalOnly = await conn.QueryAsync("SELECT id FROM recall('party', k => 4, ranking => '{lexical}')");
        Assert.DoesNotContain(lexicalOnly, r => (Guid)r["id"]! == b); // B is no lexical candidate...
        var neighbour = rows.Single(r => (Guid)r["id"]! == b);      // ...but is returned, through A
        Assert.True((float)neighbour["context"]! > 0);
        Assert.Contains(rows, r => (Guid)r["id"]! == a);
        // Its components are what they would be for any candidate: exact BM25, cosine similarity, effective importance.
        Assert.Equal(await conn.ScalarAsync<float>("SELECT bm25 FROM memory.bm25('party', ARRAY[$1::uuid])", b), (float)neighbour["bm25"]!, 4);
        Assert.True((float)neighbour["bm25"]! > 0);
        Assert.Equal(0.2 / Math.Sqrt(1.04), (float)neighbour["similarity"]!, 4);
        Assert.Equal(await conn.ScalarAsync<float>("SELECT memory.effective_importance(m) FROM memory.memories m WHERE m.id = $1", b),
            (float)neighbour["importance"]!, 4);
        Assert.InRange((float)neighbour["importance"]!, 0.5f, 0.75f); // 0.8 decayed over 20 days unused, lifted by 3 accesses
        Assert.InRange((float)neighbour["recency"]!, 0.99f, 1f);
    }
}
