using System.Text.Json;
using MemorySql.IntegrationTests.Support;
using static MemorySql.IntegrationTests.Support.RecallReport;

namespace MemorySql.IntegrationTests;

/// <summary>
/// node-postgres (pg, pinned in tests/clients/node/package-lock.json), run as a real node process:
/// tests/clients/node/pg_client.js, one run per scenario, each in a workspace of its own.
/// </summary>
public sealed class NodePostgresClientTests : IClassFixture<MemoryProxyFixture>
{
    private readonly MemoryProxyFixture _db;

    public NodePostgresClientTests(MemoryProxyFixture db) => _db = db;

    private async Task<(JsonElement Report, Testing.TestRole Workspace)> RunAsync(string scenario)
    {
        var node = await ClientRuntimes.NodeAsync();
        var folder = ClientRuntimes.ClientsFolder("node");
        return await _db.RunClientAsync("js_" + scenario, node, [Path.Combine(folder, "pg_client.js"), scenario], workingDirectory: folder);
    }

    [Fact]
    public async Task NodePg_DollarParameters_RememberAndRecallUseTheProxysVector()
    {
        var (report, workspace) = await RunAsync("parameters");
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        Assert.Equal(4, report.GetProperty("ids").EnumerateArray().Select(e => e.GetString()).Distinct().Count());
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task NodePg_NamedPreparedRecallWithDifferentTexts_EmbedsEachExecution()
    {
        var (report, workspace) = await RunAsync("named_prepared");
        var runs = report.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(8, runs.Count);
        foreach (var run in runs) AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        // Parsed once under its name (as the proxy rewrote it), then only bound.
        Assert.Contains("recall_top", Strings(report.GetProperty("prepared_names")));
        Assert.Contains(Strings(report.GetProperty("prepared_statements")), s => s.Contains("_embedding =>", StringComparison.Ordinal));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task NodePg_SeveralStatementsInOneSimpleQuery_AreAllRewritten()
    {
        var (report, workspace) = await RunAsync("multi_statement");
        Assert.Equal(3, report.GetProperty("result_count").GetInt32());
        Assert.Equal(["CALL", "CALL", "SELECT"], Strings(report.GetProperty("commands")));
        AssertVector(report.GetProperty("recall"), "Lisbon is the city Dana usually flies from");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task NodePg_TransactionRollback_UndoesTheRemember_CommitKeepsIt()
    {
        var (report, workspace) = await RunAsync("transaction");
        var undone = report.GetProperty("rolled_back").GetString()!;
        AssertVector(report.GetProperty("recall_inside"), undone);
        Assert.DoesNotContain(undone, Contents(report.GetProperty("recall_after")));
        Assert.DoesNotContain(await _db.StoredMemoriesAsync(workspace), m => m.Content == undone);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task NodePg_PoolReusesTwoConnections_ForManyConcurrentNamedRecalls()
    {
        var (report, workspace) = await RunAsync("pool");
        Assert.InRange(report.GetProperty("connections_opened").GetInt32(), 1, 2);
        var runs = report.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(12, runs.Count);
        foreach (var run in runs) AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task NodePg_ErrorsThenContinuedUse_OnTheSameConnection()
    {
        var (report, workspace) = await RunAsync("error_then_continue");
        Assert.Equal(["22023", "42601", "22023", "22012"], report.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("code").GetString()));
        AssertExactMatch(report.GetProperty("named_after_error"), "Dana prefers window seats on long flights");
        AssertVector(report.GetProperty("recall"), "The office cat is called Pixel and sleeps on the printer");
        var stored = await _db.StoredMemoriesAsync(workspace);
        Assert.DoesNotContain(stored, m => Strings(report.GetProperty("lost")).Contains(m.Content));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task NodePg_SameRecallDirectlyToPostgres_FallsBackToLexical()
    {
        var (report, workspace) = await RunAsync("direct_control");
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        AssertLexicalFallback(report.GetProperty("direct"));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }
}
