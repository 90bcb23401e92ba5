using System.Text.Json;
using MemorySql.IntegrationTests.Support;
using static MemorySql.IntegrationTests.Support.RecallReport;

namespace MemorySql.IntegrationTests;

/// <summary>
/// The PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java), run as a real JVM: tests/clients/java/JdbcClient.java,
/// compiled once per test run, one run per scenario, each in a workspace of its own.
/// </summary>
public sealed class JdbcClientTests : IClassFixture<MemoryProxyFixture>
{
    private readonly MemoryProxyFixture _db;

    public JdbcClientTests(MemoryProxyFixture db) => _db = db;

    private async Task<(JsonElement Report, Testing.TestRole Workspace)> RunAsync(string scenario)
    {
        var classPath = await ClientRuntimes.JavaClassPathAsync();
        return await _db.RunClientAsync("jdbc_" + scenario, "java", ["-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", classPath, "JdbcClient", scenario]);
    }

    private static void AssertEveryRunRecallsItsOwnText(JsonElement report)
    {
        var runs = report.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(9, runs.Count);
        foreach (var run in runs) AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        // The executions after the threshold ran as a named server-side statement (Parse once, then Bind only),
        // and that statement is the proxy's rewrite.
        Assert.Contains(true, report.GetProperty("server_prepared_after_each").EnumerateArray().Select(e => e.GetBoolean()));
        Assert.Contains(Strings(report.GetProperty("prepared_statements")),
            s => s.Contains("recall(", StringComparison.Ordinal) && s.Contains("_embedding =>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Jdbc_PreparedRecallPastDefaultPrepareThreshold_EmbedsEachExecution()
    {
        var (report, workspace) = await RunAsync("prepare_threshold_default");
        Assert.Equal(5, report.GetProperty("prepare_threshold").GetInt32());
        AssertEveryRunRecallsItsOwnText(report);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_PreparedRecallWithPrepareThresholdOne_EmbedsEachExecution()
    {
        var (report, workspace) = await RunAsync("prepare_threshold_1");
        Assert.Equal(1, report.GetProperty("prepare_threshold").GetInt32());
        AssertEveryRunRecallsItsOwnText(report);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_MetadataBeforeExecute_ShowsOnlyTheClientsParameters()
    {
        var (report, workspace) = await RunAsync("metadata");
        Assert.Equal(["text", "int4"], Strings(report.GetProperty("recall_parameter_types")));
        var columns = Strings(report.GetProperty("recall_columns_before_execute"));
        Assert.Equal(["content:text", "similarity:float4", "signals:_text"], columns);
        Assert.Equal(2, report.GetProperty("recall_parameter_count_server_prepared").GetInt32());
        Assert.Equal(2, report.GetProperty("remember_parameter_types").GetArrayLength());
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_CallableStatementCallRemember_ReturnsTheIdAndEmbeds()
    {
        var (report, workspace) = await RunAsync("callable");
        var ids = Strings(report.GetProperty("ids"));
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.True(Guid.TryParse(id, out _), $"'{id}' is not a memory id"));
        Assert.True(Guid.TryParse(report.GetProperty("escape_id").GetString(), out _), "the {call} escape returned no id: " + report);
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_ExecuteBatchOfRemember_EmbedsEveryRow()
    {
        var (report, workspace) = await RunAsync("batch");
        Assert.Equal(5, report.GetProperty("batch_counts").GetArrayLength());
        AssertVector(report.GetProperty("recall"), "The quarterly report is due on the first Monday of April");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
        Assert.Equal(5, (await _db.StoredMemoriesAsync(workspace)).Count);
    }

    [Fact]
    public async Task Jdbc_AutocommitOffRollback_UndoesTheRemember()
    {
        var (report, workspace) = await RunAsync("rollback");
        var undone = report.GetProperty("rolled_back").GetString()!;
        AssertVector(report.GetProperty("recall_inside"), undone);
        Assert.DoesNotContain(undone, Contents(report.GetProperty("recall_after")));
        Assert.DoesNotContain(await _db.StoredMemoriesAsync(workspace), m => m.Content == undone);
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_SimpleQueryMode_InlinedQuotedTexts_AreEmbeddedExactly()
    {
        var (report, workspace) = await RunAsync("simple_query_mode");
        foreach (var run in report.GetProperty("runs").EnumerateArray())
            AssertExactMatch(run.GetProperty("recall"), run.GetProperty("query").GetString()!);
        Assert.Empty(Strings(report.GetProperty("prepared_statements"))); // nothing went through Parse
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_FetchSizeWithAutocommitOff_ReadsTheRecallPortalInPieces()
    {
        var (report, workspace) = await RunAsync("fetch_size");
        var rows = report.GetProperty("recall");
        Assert.Equal(6, rows.GetArrayLength());
        AssertVector(rows);
        Assert.Contains("Lisbon is the city Dana usually flies from", Contents(rows).Take(2));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_BatchWithABlankText_FailsAsDirectly_LeavesNothing_AndTheConnectionGoesOn()
    {
        var (report, workspace) = await RunAsync("batch_error");
        var proxied = report.GetProperty("proxy");
        var direct = report.GetProperty("direct");
        Assert.Equal("22023", direct.GetProperty("sqlstate").GetString());
        Assert.Equal(direct.GetProperty("sqlstate").GetString(), proxied.GetProperty("sqlstate").GetString());
        Assert.Equal(direct.GetProperty("message").GetString(), proxied.GetProperty("message").GetString());
        Assert.Equal(direct.GetProperty("stored").GetInt64(), proxied.GetProperty("stored").GetInt64());
        AssertExactMatch(proxied.GetProperty("recall"), "Backups of the billing database run every night at two");
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }

    [Fact]
    public async Task Jdbc_SameRecallDirectlyToPostgres_FallsBackToLexical()
    {
        var (report, workspace) = await RunAsync("direct_control");
        AssertVector(report.GetProperty("recall"), "Dana prefers window seats on long flights");
        AssertLexicalFallback(report.GetProperty("direct"));
        await _db.AssertWrittenAreEmbeddedAsync(report, workspace);
    }
}
