using System.Text.Json;
using MemorySql.IntegrationTests.Support;
using static MemorySql.IntegrationTests.Support.RecallReport;

namespace MemorySql.IntegrationTests;

/// <summary>
/// psycopg 3 (Debian's python3-psycopg over libpq), run as a real process: tests/clients/python/psycopg_client.py,
/// one run per scenario, each in a workspace of its own.
/// </summary>
public sealed class PsycopgClientTests : IClassFixture<MemoryProxyFixture>
{
    private readonly MemoryProxyFixture _db;

    public PsycopgClientTests(MemoryProxyFixture db) => _db = db;

    private async Task<(JsonElement Report, Testing.TestRole Workspace)> RunAsync(string scenario)
    {
        var python = await ClientRuntimes.PythonAsync();
        var script = Path.Combine(ClientRuntimes.ClientsFolder("python"), "psycopg_client.py");
        return await _db.RunClientAsync("py_" + scenario, python, [script, scenario]);
    }

    [Fact]
    public async Task Psycopg_ServerSideParameters_RememberRecallReviseReflectUseTheProxysVector()
    {
        var (report, workspace) = await RunAsync("parameters");
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        Assert.Equal(4, report.GetProperty("ids").GetArrayLength());
        Assert.True(Guid.TryParse(report.GetProperty("revised_id").GetString(), out _));
        Assert.Contains("vector", Strings(report.GetProperty("reflect_signals")));
        Assert.True(report.GetProperty("reflect_sources").GetInt32() > 0);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
        var stored = await _db.StoredMemoriesAsync(workspace);
        Assert.Equal("superseded", Assert.Single(stored, m => m.Content == "The quarterly report is due on the first Monday of April").Status);
    }

    [Fact]
    public async Task Psycopg_PreparedAndAutoPreparedRecall_EmbedsEachExecution()
    {
        var (report, workspace) = await RunAsync("prepared");
        foreach (var run in report.GetProperty("explicit").EnumerateArray().Concat(report.GetProperty("auto").EnumerateArray()))
            AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        // Both statements live on the server as the proxy rewrote them (the injected vector parameter included).
        var prepared = Strings(report.GetProperty("prepared_statements"));
        Assert.True(prepared.Count(s => s.Contains("recall(", StringComparison.Ordinal) && s.Contains("_embedding =>", StringComparison.Ordinal)) >= 2,
            "expected the explicit and the auto-prepared recall on the server: " + string.Join(" | ", prepared));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_PipelineOfRemembersAndPreparedRecalls_AnswersInOrderWithEachTextsVector()
    {
        var (report, workspace) = await RunAsync("pipeline");
        Assert.Equal(4, report.GetProperty("ids").EnumerateArray().Select(e => e.GetString()).Distinct().Count());
        AssertVector(report.GetProperty("recall"), "Backups of the billing database run every night at two");
        Assert.Equal(4, report.GetProperty("count_in_pipeline").GetInt32());
        foreach (var run in report.GetProperty("prepared_runs").EnumerateArray())
            AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        Assert.Contains(Strings(report.GetProperty("prepared_statements")), s => s.Contains("_embedding =>", StringComparison.Ordinal));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_ServerSideCursorOverRecall_FetchesInPiecesWithVectors()
    {
        var (report, workspace) = await RunAsync("server_cursor");
        var rows = report.GetProperty("recall");
        Assert.Equal(5, rows.GetArrayLength());
        AssertVector(rows);
        Assert.Contains("Lisbon is the city Dana usually flies from", Contents(rows).Take(2));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_ExecuteMany_EmbedsEveryRow()
    {
        var (report, workspace) = await RunAsync("executemany");
        AssertVector(report.GetProperty("recall"), "The office cat is called Pixel and sleeps on the printer");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
        Assert.Equal(4, (await _db.StoredMemoriesAsync(workspace)).Count);
    }

    [Fact]
    public async Task Psycopg_CopyOutOfRecallAndCopyIn_StayInStepWithMemoryCalls()
    {
        var (report, workspace) = await RunAsync("copy");
        AssertVector(report.GetProperty("copy_out"), "Backups of the billing database run every night at two");
        Assert.Equal(2, report.GetProperty("copied_in").GetArrayLength());
        AssertVector(report.GetProperty("recall"), "Standup meetings start at nine thirty sharp");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_ListenNotify_DeliversBetweenMemoryCalls_WithTheClientsOwnPid()
    {
        var (report, workspace) = await RunAsync("notify");
        var received = report.GetProperty("received").EnumerateArray().ToList();
        Assert.Contains(received, n => n.GetProperty("payload").GetString() == report.GetProperty("expected_payload").GetString());
        var self = Assert.Single(received, n => n.GetProperty("payload").GetString() == "self");
        Assert.Equal(report.GetProperty("listener_pid").GetInt32(), self.GetProperty("pid").GetInt32());
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_TransactionRollback_UndoesTheRemember()
    {
        var (report, workspace) = await RunAsync("rollback");
        var undone = report.GetProperty("rolled_back").GetString()!;
        AssertVector(report.GetProperty("recall_inside"), undone); // visible (and embedded) inside its transaction
        Assert.DoesNotContain(undone, Contents(report.GetProperty("recall_after")));
        var stored = await _db.StoredMemoriesAsync(workspace);
        Assert.DoesNotContain(stored, m => m.Content == undone);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_ErrorMidPipeline_AbortsOnlyItsSyncBlock_AndTheSessionGoesOn()
    {
        var (report, workspace) = await RunAsync("pipeline_error");
        Assert.Equal("22023", report.GetProperty("error_sqlstate").GetString());
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        var stored = await _db.StoredMemoriesAsync(workspace);
        Assert.DoesNotContain(stored, m => m.Content == report.GetProperty("lost").GetString());
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_ClientSideBindingOfQuotedAndNonAsciiTexts_EmbedsTheExactText()
    {
        var (report, workspace) = await RunAsync("client_side_binding");
        Assert.Contains("''", report.GetProperty("sent_example").GetString(), StringComparison.Ordinal); // a literal in the SQL, not a parameter
        foreach (var run in report.GetProperty("runs").EnumerateArray())
            AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_BinaryParametersAndResults_EmbedTheBoundText()
    {
        var (report, workspace) = await RunAsync("binary_parameters");
        foreach (var run in report.GetProperty("runs").EnumerateArray())
            AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_EmptyOrBlankTexts_GetPostgresOwnInvalidParameterError_AndTheSessionGoesOn()
    {
        var (report, workspace) = await RunAsync("blank_texts");
        var proxied = report.GetProperty("proxy").EnumerateArray().ToList();
        var direct = report.GetProperty("direct").EnumerateArray().ToList();
        Assert.Equal(direct.Count, proxied.Count);
        // PostgreSQL's own check names the argument (22023) for the blank ones; an embedding-provider error
        // (38000) would blame the wrong thing. Texts PostgreSQL accepts must be accepted through the proxy too.
        Assert.All(direct.Take(5), d => Assert.Equal("22023", d.GetProperty("sqlstate").GetString()));
        var differences = Enumerable.Range(0, direct.Count)
            .Where(i => direct[i].ToString() != proxied[i].ToString())
            .Select(i => $"through the proxy {proxied[i]}\n      directly {direct[i]}")
            .ToList();
        Assert.True(differences.Count == 0, "outcomes differ from PostgreSQL's:\n" + string.Join("\n", differences));
        AssertExactMatch(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_LargeTextsBoundAndInlined_AreEmbeddedWhole()
    {
        var (report, workspace) = await RunAsync("large_texts");
        Assert.Equal([150_000, 150_000], report.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt32()));
        foreach (var run in report.GetProperty("runs").EnumerateArray())
            AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Psycopg_Latin1ClientEncoding_StoresTheTextIntact_AndNeverAWrongEmbedding()
    {
        var (report, workspace) = await RunAsync("latin1");
        Assert.Equal("LATIN1", report.GetProperty("client_encoding").GetString());
        var texts = Strings(report.GetProperty("texts"));
        Assert.Equal(texts, Strings(report.GetProperty("stored"))); // read back through the same connection
        var stored = await _db.StoredMemoriesAsync(workspace);
        Assert.Equal(texts, stored.Take(2).Select(m => m.Content)); // and as the database holds them
        Assert.Contains("Zoë's café in Zürich has crème brûlée", Contents(report.GetProperty("recall")));
        Assert.Contains("Señora Müller prefers the façade room", Contents(report.GetProperty("recall_bound")));
        // The proxy reads memory texts as UTF-8 only: in another encoding it must leave them to the embed worker
        // rather than embed garbled text.
        await _db.AssertNoWrongEmbeddingAsync(workspace);
        // A statement rewritten under UTF8 and bound after SET client_encoding: intact text, no vector from the proxy;
        // after RESET the proxy embeds again.
        Assert.Equal("UTF8", report.GetProperty("encoding_after_reset").GetString());
        var switched = Strings(report.GetProperty("switched"));
        Assert.Null(Assert.Single(stored, m => m.Content == switched[0]).Embedding);
        foreach (var text in Strings(report.GetProperty("utf8_texts")))
            Assert.NotNull(Assert.Single(stored, m => m.Content == text).Embedding);
    }

    [Fact]
    public async Task Psycopg_StandardConformingStringsOff_BackslashEscapedLiteralsStayIntact_AndNeverAWrongEmbedding()
    {
        var (report, workspace) = await RunAsync("scs_off");
        Assert.Equal(Strings(report.GetProperty("expected")), Strings(report.GetProperty("stored")));
        Assert.Contains("Dana's seat, by the window", Contents(report.GetProperty("recall")));
        await _db.AssertNoWrongEmbeddingAsync(workspace);
        AssertExactMatch(report.GetProperty("recall_after_reset"), "Dana prefers window seats on long flights");
    }

    [Fact]
    public async Task Psycopg_SameRecallDirectlyToPostgres_FallsBackToLexical()
    {
        var (report, workspace) = await RunAsync("direct_control");
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        AssertLexicalFallback(report.GetProperty("direct"));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }
}
