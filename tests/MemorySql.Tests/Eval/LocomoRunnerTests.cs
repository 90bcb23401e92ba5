using MemorySql.Embeddings;
using MemorySql.Eval;
using MemorySql.Proxy;
using MemorySql.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MemorySql.Tests.Sql;

namespace MemorySql.Tests.Eval;

/// <summary>A test database with the builtin model registered and a MemorySql proxy in front of it.</summary>
public sealed class EvalProxyFixture : TestDatabase
{
    public ProxyServer Proxy { get; private set; } = null!;
    public BuiltinEmbeddingProvider Embeddings { get; } = new();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecuteAsync("SELECT memory.register_model($1, $2, true)", Embeddings.Model, Embeddings.Dimension);
        Proxy = new ProxyServer(new ProxyOptions
        {
            Port = 0,
            Upstream = { Host = "127.0.0.1", Port = Server.Port, TlsMode = UpstreamTlsMode.Disable },
        }, Embeddings, NullLoggerFactory.Instance);
        await Proxy.StartAsync(CancellationToken.None);
    }

    public override async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await base.DisposeAsync();
    }

    internal EvalTarget Target => new(Server.AdminConnectionString(Name), "127.0.0.1", Proxy.LocalEndPoint.Port, Name);
}

/// <summary>The LoCoMo runner end to end on a synthetic, LoCoMo-shaped file (the licensed data is never needed).</summary>
public sealed class LocomoRunnerTests : IClassFixture<EvalProxyFixture>
{
    private readonly EvalProxyFixture _db;

    public LocomoRunnerTests(EvalProxyFixture db) => _db = db;

    /// <summary>
    /// Two conversations that talk about the same things with different answers, so a run that mixed them
    /// up (no workspace per conversation) would rank the other conversation's turn first.
    /// </summary>
    private static string SyntheticFile(string a, string b)
    {
        var path = Path.Combine(Path.GetTempPath(), $"locomo-synthetic-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, $$"""
            [{"sample_id": "{{a}}",
              "conversation": {"speaker_a": "Ada", "speaker_b": "Ben",
                "session_1_date_time": "10:00 am on 3 March, 2023",
                "session_1": [{"speaker": "Ada", "dia_id": "D1:1", "text": "Good morning Ben, how was the weekend?"},
                              {"speaker": "Ben", "dia_id": "D1:2", "text": "I adopted a greyhound called Biscuit on Saturday."},
                              {"speaker": "Ada", "dia_id": "D1:3", "text": "Lovely! I repainted my kitchen in a sunflower yellow."}],
                "session_2_date_time": "6:30 pm on 9 March, 2023",
                "session_2": [{"speaker": "Ben", "dia_id": "D2:1", "text": "My violin lessons start next Tuesday evening."},
                              {"speaker": "Ada", "dia_id": "D2:2", "text": "Look at my garden", "img_url": ["x"], "blip_caption": "a photo of tulips"}]},
              "qa": [{"question": "What is the name of Ben's greyhound?", "answer": "Biscuit", "evidence": ["D1:2"], "category": 4},
                     {"question": "Which colour did Ada use to repaint her kitchen?", "answer": "sunflower yellow", "evidence": ["D1:03"], "category": 4},
                     {"question": "When do Ben's violin lessons start?", "answer": "next Tuesday", "evidence": ["D2:1"], "category": 2},
                     {"question": "What did Ada plant?", "answer": "tulips", "evidence": [], "category": 3}]},
             {"sample_id": "{{b}}",
              "conversation": {"speaker_a": "Cy", "speaker_b": "Dee",
                "session_1_date_time": "9:15 am on 1 June, 2023",
                "session_1": [{"speaker": "Cy", "dia_id": "D1:1", "text": "We adopted a greyhound called Pepper last month."},
                              {"speaker": "Dee", "dia_id": "D1:2", "text": "My kitchen is getting a coat of ocean blue paint."}]},
              "qa": [{"question": "What is the name of the greyhound Cy adopted?", "answer": "Pepper", "evidence": ["D1:1"], "category": 4},
                     {"question": "Which colour is Dee painting the kitchen?", "answer": "ocean blue", "evidence": ["D1:2"], "category": 1}]}]
            """);
        return path;
    }

    [Fact]
    public async Task Run_ThroughTheProxy_FindsLexicallyObviousEvidence_InEveryMode_AndCleansUp()
    {
        var (a, b) = ($"t{Guid.NewGuid():N}"[..12], $"t{Guid.NewGuid():N}"[..12]);
        var path = SyntheticFile(a, b);
        try
        {
            var (conversations, load) = LocomoDataset.Load(path);
            Assert.Equal(1, load.QuestionsWithoutEvidence);
            var progress = new List<string>();
            var runner = new LocomoRunner(_db.Target, new LocomoRunOptions([1, 5], ["lexical", "vector", "hybrid"]), progress.Add);
            var result = await runner.RunAsync(conversations, CancellationToken.None);

            Assert.Equal(7, result.Memories);
            Assert.Equal(3, result.Modes.Count);
            foreach (var mode in result.Modes)
            {
                Assert.Equal(5, mode.Count(null)); // the question without evidence is not scored
                Assert.Equal(100.0, mode.Mean(null, 1)); // every evidence turn in the top 5
                Assert.Equal(5, mode.LatenciesMs.Count);
            }
            Assert.Equal(100.0, result.Modes.Single(m => m.Mode == "hybrid").Mean(null, 0)); // and first, in hybrid
            Assert.Equal(15, result.Outcomes.Count);
            Assert.All(result.Outcomes, o => Assert.All(o.EvidenceRanks, r => Assert.InRange(r, 0, 4)));
            Assert.Contains(progress, p => p.Contains("5/5", StringComparison.Ordinal) || p.Contains("3/3", StringComparison.Ordinal));

            // Each conversation had a workspace of its own, dropped at the end (role included).
            Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.workspaces WHERE name IN ($1, $2)",
                LocomoRunner.WorkspaceName(a), LocomoRunner.WorkspaceName(b)));
            Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE workspace IN ($1, $2)",
                LocomoRunner.WorkspaceName(a), LocomoRunner.WorkspaceName(b)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Run_Keep_StoresTurnsAsMemories_WithSpeakerSessionTimeAndMetadata_ThroughTheProxy()
    {
        var (a, b) = ($"t{Guid.NewGuid():N}"[..12], $"t{Guid.NewGuid():N}"[..12]);
        var path = SyntheticFile(a, b);
        var ws = LocomoRunner.WorkspaceName(a);
        try
        {
            var (conversations, _) = LocomoDataset.Load(path);
            var runner = new LocomoRunner(_db.Target, new LocomoRunOptions([1], ["hybrid"], KeepWorkspaces: true), _ => { });
            await runner.RunAsync(conversations.Take(1).ToList(), CancellationToken.None);

            var rows = await _db.Admin.QueryAsync(
                "SELECT m.entity, m.valid_from, m.metadata ->> 'dia_id' AS dia, m.metadata ->> 'image_caption' AS caption, m.session_id, " +
                "       (SELECT count(*) FROM memory.embeddings e WHERE e.memory_id = m.id AND e.model = $2) AS embedded " +
                "  FROM memory.memories m WHERE m.workspace = $1 ORDER BY m.valid_from", ws, _db.Embeddings.Model);
            Assert.Equal(["D1:1", "D1:2", "D1:3", "D2:1", "D2:2"], rows.Select(r => (string)r["dia"]!).ToArray());
            Assert.Equal("Ben", rows[1]["entity"]);
            Assert.Equal(new DateTime(2023, 3, 3, 10, 0, 1, DateTimeKind.Utc), ((DateTime)rows[1]["valid_from"]!).ToUniversalTime());
            Assert.Equal("a photo of tulips", rows[4]["caption"]);
            Assert.All(rows, r => Assert.Equal(1L, r["embedded"])); // embedded by the proxy on the way in
            Assert.Equal(2, rows.Select(r => r["session_id"]).Distinct().Count()); // one MemorySql session per LoCoMo session

            // A kept conversation is reused as it is by a later run that asks for it — also after the workers changed
            // it: a turn superseded as a near-duplicate, summaries added (neither means the turns were not all stored).
            await _db.ExecuteAsync("UPDATE memory.memories SET status = 'superseded' WHERE workspace = $1 AND metadata ->> 'dia_id' = 'D1:3'", ws);
            await _db.ExecuteAsync($"SET ROLE \"{ws}\"; CALL remember('a summary the reflection worker wrote'); CALL remember('another summary'); RESET ROLE");
            var again = new LocomoRunner(_db.Target, new LocomoRunOptions([1], ["hybrid"], KeepWorkspaces: true, ReuseWorkspaces: true), _ => { });
            var result = await again.RunAsync(conversations.Take(1).ToList(), CancellationToken.None);
            Assert.Equal(7L, await _db.ScalarAsync<long>("SELECT count(*) FROM memory.memories WHERE workspace = $1", ws));
            Assert.Equal(0, result.Memories); // nothing stored again
            Assert.True(result.Modes[0].Count(null) > 0, "the reused conversation's questions are asked");
        }
        finally
        {
            File.Delete(path);
            await _db.ExecuteAsync("SELECT memory.drop_workspace($1) FROM memory.workspaces WHERE name = $1", ws);
        }
    }

    [Theory]
    [InlineData("lexical,hybrid", new[] { "lexical", "hybrid" })]
    [InlineData(" Vector , vector", new[] { "vector" })]
    [InlineData("hybrid,hybrid-no-context,fusion", new[] { "hybrid", "hybrid-no-context", "fusion" })]
    public void Modes_ParseAndDeduplicate(string text, string[] expected) => Assert.Equal(expected, RecallModes.Parse(text));

    [Theory]
    [InlineData("fast")]
    [InlineData("")]
    public void Modes_Unknown_AreRejectedNamingTheChoices(string text) =>
        Assert.Contains("lexical", Assert.Throws<ArgumentException>(() => RecallModes.Parse(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void Ks_AreSortedAndValidated()
    {
        Assert.Equal([1, 5, 10], RecallModes.ParseKs("10,1,5,5"));
        Assert.Throws<ArgumentException>(() => RecallModes.ParseKs("0"));
        Assert.Throws<ArgumentException>(() => RecallModes.ParseKs("ten"));
    }
}
