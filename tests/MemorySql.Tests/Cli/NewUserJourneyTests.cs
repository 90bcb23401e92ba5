using System.Text.Json;
using MemorySql.Runtime;
using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Tests.Cli;

/// <summary>
/// Issue 5's "done means", tried as a new user would: the real `memorysql up`, with and without an LLM endpoint;
/// ingest a conversation through the proxy, watch facts appear, contradict one and see it superseded with its
/// history, ask reflect and get an answer with sources, and see the workers in `memorysql status`. Waits poll
/// with a timeout; nothing sleeps a fixed time. Each test runs a whole MemorySql (its own PostgreSQL, five workers):
/// they run on their own, after the parallel tests, so a loaded machine does not starve their database.
/// </summary>
[Collection(nameof(NewUserJourneyTests))]
public sealed class NewUserJourneyTests
{
    private const string Conversation = """
        [{"role": "user", "content": "Hi! I live in Lisbon. I prefer window seats on flights."},
         {"role": "assistant", "content": "Noted. Anything else I should know?"},
         {"role": "user", "content": "My daughter is called Ana. Can you book me a flight to Oslo?"}]
        """;

    private const string Contradiction = "Dana prefers aisle seats on flights";
    private const string Question = "Which seats does Dana prefer on flights?";
    // How long the workers may take for one step on a loaded CI machine (a few seconds when quiet; 30 s seen at load 15).
    // The stall that a worker blocking a socket thread used to cause is guarded by WorkerSynchronizationContextTests.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Journey_WithoutAnLlm_HeuristicsExtractAndSupersede_ReflectIsExtractiveAndSaysSo()
    {
        await using var up = await UpInstance.StartAsync();
        await using var conn = await OpenAsync(up.Url);

        var facts = await IngestAndWaitForFactsAsync(up, conn, expected: 3);
        Assert.Equal(new[] { "Dana lives in Lisbon.", "Dana prefers window seats on flights.", "Dana's daughter is called Ana." }, facts.Keys.Order());
        Assert.All(facts.Values, f => Assert.Equal("heuristic", f.Mode));
        Assert.DoesNotContain(facts.Keys, f => f.Contains("Oslo", StringComparison.Ordinal));   // a request, not a fact

        var (window, aisle) = await ContradictAndWaitForSupersedeAsync(up, conn, facts["Dana prefers window seats on flights."].Id);
        var settled = await SettledCaseAsync(conn, aisle, window);
        Assert.Equal(("heuristic", "updates", "auto:heuristic"), (settled.Method, settled.Verdict, settled.ResolvedBy));

        var reflect = await ReflectAsync(conn);
        Assert.Equal("extractive", reflect.GetProperty("mode").GetString());
        Assert.Contains("without an LLM", reflect.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Contains("Llm:Provider = none", reflect.GetProperty("offline_reason").GetString(), StringComparison.Ordinal);
        var synthesis = reflect.GetProperty("synthesis").GetString()!;
        Assert.StartsWith("- " + Contradiction, synthesis, StringComparison.Ordinal);   // best first: the current belief
        Assert.DoesNotContain("window", synthesis, StringComparison.Ordinal);          // the superseded one is not believed any more
        var sources = Sources(reflect);
        Assert.Equal(aisle, sources[0]);
        Assert.DoesNotContain(window, sources);
        await AssertReflectionRecordedAsync(conn, reflect, sources);

        var status = await StatusAsync(up, "extraction/heuristic", "check/heuristics", "reflection/extractive");
        Assert.Matches(@"contradictions\s+open\s+0", status);
        Assert.Matches(@"resolved:newer\s+1", status);
    }

    [Fact]
    public async Task Journey_WithAnLlm_TheLlmExtractsJudgesAndAnswers_WithCitedSources()
    {
        await using var llm = new FakeLlmServer(JourneyLlm.Answer);
        await using var up = await UpInstance.StartAsync("--Llm:Provider=openai", "--Llm:OpenAI:BaseUrl=" + llm.BaseUrl,
            "--Llm:OpenAI:Model=" + JourneyLlm.Model, "--Llm:OpenAI:RetryBaseDelaySeconds=0.1");
        await using var conn = await OpenAsync(up.Url);

        var facts = await IngestAndWaitForFactsAsync(up, conn, expected: 3);
        Assert.Equal(new[] { JourneyLlm.DaughterFact, "Dana lives in Lisbon.", "Dana prefers window seats on flights." }, facts.Keys.Order());
        Assert.All(facts.Values, f => Assert.Equal("llm", f.Mode));
        Assert.Contains(llm.Calls, c => c.SchemaName == "memorysql_extract" && c.Model == JourneyLlm.Model);

        var (window, aisle) = await ContradictAndWaitForSupersedeAsync(up, conn, facts["Dana prefers window seats on flights."].Id);
        var settled = await SettledCaseAsync(conn, aisle, window);
        Assert.Equal(("llm", "updates", "auto:llm"), (settled.Method, settled.Verdict, settled.ResolvedBy));
        Assert.Equal("the seat preference changed", settled.Reason);
        var judged = Assert.Single(llm.Calls, c => c.SchemaName == "memorysql_contradiction" && c.LastUser.Contains("aisle", StringComparison.Ordinal));
        Assert.Contains("window seats", judged.LastUser, StringComparison.Ordinal);

        var reflect = await ReflectAsync(conn);
        Assert.Equal("llm", reflect.GetProperty("mode").GetString());
        Assert.Equal(JourneyLlm.ReflectAnswer, reflect.GetProperty("synthesis").GetString());   // the citation marker is moved into sources
        Assert.Equal(new[] { aisle }, Sources(reflect));
        Assert.Equal(JourneyLlm.Model, reflect.GetProperty("llm").GetProperty("model").GetString());
        var asked = Assert.Single(llm.Calls, c => c.SchemaName == "memorysql_reflect");
        Assert.Contains(Question, asked.LastUser, StringComparison.Ordinal);
        Assert.DoesNotContain("window seats", asked.LastUser, StringComparison.Ordinal);   // superseded memories are not offered
        await AssertReflectionRecordedAsync(conn, reflect, [aisle]);

        // The tokens are accounted per workspace (written by the usage writer in the background).
        await Eventually(() => conn.ScalarAsync<long>("SELECT count(DISTINCT purpose) FROM memory.llm_usage_summary WHERE purpose IN ('extract', 'contradiction', 'reflect')"),
            n => n == 3, "LLM usage of extraction, contradiction and reflect in memory.llm_usage", up);

        var status = await StatusAsync(up, "extraction/llm:" + JourneyLlm.Model, "check/llm:" + JourneyLlm.Model);
        // The LLM wrote different kinds (fact, preference, relationship): no group is big enough for a summary yet.
        Assert.Matches($@"(?m)^reflection/llm:{JourneyLlm.Model}\s+\S+\s+(running|failing)\s", status);
        Assert.Matches(@"llm\s+calls_today\s+[1-9]", status);
        Assert.Matches(@"resolved:newer\s+1", status);
    }

    private sealed record Fact(Guid Id, string Mode);

    private sealed record SettledCase(string Method, string Verdict, string ResolvedBy, string Reason);

    private static async Task<NpgsqlConnection> OpenAsync(string url)
    {
        // Generous timeouts: the test machine is shared, and a stalled disk must not pass for a MemorySql failure.
        var conn = new NpgsqlConnection(PostgresUrl.ToConnectionString(url) + ";Timeout=60;Command Timeout=120");
        await conn.OpenAsync();
        return conn;
    }

    /// <summary>Ingests the conversation with psql, as the docs show, and waits for the extraction worker's item memories.</summary>
    private static async Task<Dictionary<string, Fact>> IngestAndWaitForFactsAsync(UpInstance up, NpgsqlConnection conn, int expected)
    {
        var ingest = $"CALL ingest('{Conversation.Replace("'", "''", StringComparison.Ordinal)}', entity => 'dana');";
        var (exit, output) = await Psql.RunScriptAsync(up.Url, ingest + "\n" + ingest);
        Assert.True(exit == 0, "ingest failed through psql:\n" + output);
        var resource = await conn.ScalarAsync<Guid>("SELECT id FROM memory.resources");   // ingesting the same conversation twice stores it once

        await Eventually(() => conn.ScalarAsync<long>("SELECT count(*) FROM memory.extraction_status"), n => n == 0, "the extraction queue to empty", up);
        var rows = await conn.QueryAsync("""
            SELECT id, content, layer, entity, status, metadata #>> '{extraction,mode}' AS mode
              FROM memory.memories WHERE source_id = $1
            """, resource);
        Assert.Equal(expected, rows.Count);
        Assert.All(rows, r => Assert.Equal(("item", "dana", "active"), ((string)r["layer"]!, (string)r["entity"]!, (string)r["status"]!)));
        Assert.Equal(1L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'extract'"));   // extracted once
        return rows.ToDictionary(r => (string)r["content"]!, r => new Fact((Guid)r["id"]!, (string)r["mode"]!));
    }

    /// <summary>
    /// Once the facts are embedded and checked, remembers a newer seat preference and waits until the check
    /// worker supersedes the old one; checks what the docs promise a user sees: status, validity, history, edge.
    /// </summary>
    private static async Task<(Guid Window, Guid Aisle)> ContradictAndWaitForSupersedeAsync(UpInstance up, NpgsqlConnection conn, Guid window)
    {
        await Eventually(() => conn.ScalarAsync<long>("SELECT (SELECT count(*) FROM memory.embedding_status) + (SELECT count(*) FROM memory.check_status)"),
            n => n == 0, "the extracted facts to be embedded and checked", up);
        var aisle = await conn.ScalarAsync<Guid>($"CALL remember('{Contradiction}', entity => 'dana')");

        await Eventually(() => conn.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", window), s => s == "superseded",
            "the window-seat memory to be superseded by the aisle-seat one", up);
        var old = Assert.Single(await conn.QueryAsync("SELECT superseded_by, valid_to IS NOT NULL AS ended FROM memory.memories WHERE id = $1", window));
        Assert.Equal(aisle, old["superseded_by"]);
        Assert.True((bool)old["ended"]!);
        Assert.Equal("active", await conn.ScalarAsync<string>("SELECT status FROM memory.memories WHERE id = $1", aisle));

        // history() of the current memory shows both versions and why the older one ended.
        var history = await conn.QueryAsync("SELECT item, memory_id, version, status, content, action FROM history($1) ORDER BY at", aisle);
        var versions = history.Where(h => (string)h["item"]! == "version").ToList();
        Assert.Equal(new[] { (window, "superseded"), (aisle, "active") }, versions.Select(v => ((Guid)v["memory_id"]!, (string)v["status"]!)));
        Assert.Contains(history, h => (string?)h["action"] == "contradiction" && (Guid)h["memory_id"]! == aisle);
        Assert.Contains(history, h => (string?)h["action"] == "supersede" && (Guid)h["memory_id"]! == window);

        // The contradicts edge links newer → older; recall believes the new fact, and as_of still finds the old one.
        Assert.Equal(1L, await conn.ScalarAsync<long>(
            "SELECT count(*) FROM memory.associations WHERE source_id = $1 AND target_id = $2 AND relation = 'contradicts'", aisle, window));
        Assert.Equal(Contradiction, await conn.ScalarAsync<string>($"SELECT content FROM recall('{Question.Replace("'", "''", StringComparison.Ordinal)}', entity => 'dana', k => 1)"));
        var before = await conn.ScalarAsync<DateTime>("SELECT created_at FROM memory.memories WHERE id = $1", window);
        var then = await conn.QueryAsync("SELECT id FROM recall('window seats', entity => 'dana', as_of => $1)", before);
        Assert.Contains(then, r => (Guid)r["id"]! == window);
        return (window, aisle);
    }

    /// <summary>The settled case: in memory.contradiction_cases, no longer open in memory.contradictions.</summary>
    private static async Task<SettledCase> SettledCaseAsync(NpgsqlConnection conn, Guid newer, Guid older)
    {
        var row = Assert.Single(await conn.QueryAsync("""
            SELECT method, verdict, state, resolution, resolved_by, reason FROM memory.contradiction_cases WHERE newer_id = $1 AND older_id = $2
            """, newer, older));
        Assert.Equal(("resolved", "newer"), ((string)row["state"]!, (string)row["resolution"]!));
        Assert.Equal(0L, await conn.ScalarAsync<long>("SELECT count(*) FROM memory.contradictions"));
        return new SettledCase((string)row["method"]!, (string)row["verdict"]!, (string)row["resolved_by"]!, (string)row["reason"]!);
    }

    private static async Task<JsonElement> ReflectAsync(NpgsqlConnection conn)
    {
        var json = await conn.ScalarAsync<string>($"SELECT reflect('{Question}', entity => 'dana')::text");
        using var document = JsonDocument.Parse(json!);
        return document.RootElement.Clone();
    }

    private static List<Guid> Sources(JsonElement reflect) =>
        [.. reflect.GetProperty("sources").EnumerateArray().Select(s => s.GetProperty("id").GetGuid())];

    /// <summary>The reflection is kept as a category-layer summary, linked to every source by a summarizes edge.</summary>
    private static async Task AssertReflectionRecordedAsync(NpgsqlConnection conn, JsonElement reflect, List<Guid> sources)
    {
        Assert.True(reflect.GetProperty("recorded").GetBoolean());
        var id = reflect.GetProperty("reflection_id").GetGuid();
        var row = Assert.Single(await conn.QueryAsync("SELECT layer, kind FROM memory.memories WHERE id = $1", id));
        Assert.Equal(("category", "summary"), ((string)row["layer"]!, (string)row["kind"]!));
        var linked = await conn.QueryAsync("SELECT target_id FROM memory.associations WHERE source_id = $1 AND relation = 'summarizes'", id);
        Assert.Equal(sources.Order(), linked.Select(r => (Guid)r["target_id"]!).Order());
    }

    /// <summary>
    /// Waits until every worker named reports what it processed (health is written every few seconds), then
    /// runs `memorysql status` and checks each worker is listed as running.
    /// </summary>
    private static async Task<string> StatusAsync(UpInstance up, params string[] workers)
    {
        await using (var admin = await OpenAsync(await up.AdminUrlAsync()))
        {
            await Eventually(() => admin.ScalarAsync<long>("""
                    SELECT count(*) FROM memory.worker_status
                     WHERE worker || '/' || target = ANY($1) AND state = 'running' AND processed > 0
                    """, (object)workers),
                n => n == workers.Length, $"workers {string.Join(", ", workers)} to report work in memory.worker_status", up);
        }
        var (exit, stdout, stderr) = await CliProcess.RunAsync("status", "--data-dir", up.DataDir);
        Assert.True(exit == 0, stderr);
        Assert.Contains("proxy         listening", stdout, StringComparison.Ordinal);
        // Alive: running, or failing for a moment when the shared machine stalls the database (never lost or stopped).
        foreach (var worker in workers.Append("embed/builtin-v2"))
            Assert.Matches($@"(?m)^{System.Text.RegularExpressions.Regex.Escape(worker)}\s+\S+\s+(running|failing)\s+[1-9]", stdout);
        Assert.Matches(@"(?m)^decay\s+\S+\s+(running|failing)\s", stdout);   // nothing old enough to archive: 0 processed
        return stdout;
    }

    /// <summary>Polls until <paramref name="done"/> holds; fails naming what it waited for, the last value and the server's log.</summary>
    private static async Task Eventually<T>(Func<Task<T>> probe, Func<T, bool> done, string what, UpInstance up)
    {
        var deadline = DateTime.UtcNow + Patience;
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var value = await probe();
            if (done(value)) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out after {Patience} waiting for {what}; last value: {value}\nmemorysql stderr:\n{up.Process.StdErr}\nstdout:\n{up.Process.StdOut}");
            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
    }
}

[CollectionDefinition(nameof(NewUserJourneyTests), DisableParallelization = true)]
public sealed class NewUserJourneysRunAlone;
