using Dapper;
using MemorySql.IntegrationTests.Support;
using Npgsql;

namespace MemorySql.IntegrationTests;

/// <summary>Dapper over Npgsql, in-process, against the real proxy: anonymous parameters, CALL, list parameters.</summary>
public sealed class DapperClientTests : IClassFixture<MemoryProxyFixture>
{
    private static readonly string[] Facts =
    [
        "Dana prefers window seats on long flights",
        "The quarterly report is due on the first Monday of April",
        "Backups of the billing database run every night at two",
        "The office cat is called Pixel and sleeps on the printer",
    ];

    private readonly MemoryProxyFixture _db;

    public DapperClientTests(MemoryProxyFixture db) => _db = db;

    /// <summary>What recall returns, as Dapper maps it (by column name).</summary>
    public sealed class RecallRow
    {
        public Guid Id { get; set; }
        public string Content { get; set; } = "";
        public float? Similarity { get; set; }
        public float Score { get; set; }
        public string[] Signals { get; set; } = [];
    }

    private static void AssertVectorRows(List<RecallRow> rows, string top)
    {
        Assert.NotEmpty(rows);
        Assert.Equal(top, rows[0].Content);
        Assert.All(rows, r =>
        {
            Assert.Contains("vector", r.Signals);
            Assert.NotNull(r.Similarity);
        });
    }

    [Fact]
    public async Task Dapper_ExecuteCallRememberWithTags_AndQueryRecallWithAnonymousParameters_UseTheProxysVector()
    {
        var workspace = await _db.NewWorkspaceAsync("dapper_params");
        await using var conn = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace));
        await conn.OpenAsync();
        foreach (var fact in Facts)
            Assert.Equal(-1, await conn.ExecuteAsync("CALL remember(@c, tags => @t)", new { c = fact, t = new[] { "dapper" } }));
        var id = await conn.ExecuteScalarAsync<Guid>("CALL remember(@c, kind => @kind)", new { c = "Lisbon is the city Dana usually flies from", kind = "fact" });
        Assert.NotEqual(Guid.Empty, id);

        var rows = (await conn.QueryAsync<RecallRow>(
            "SELECT id, content, similarity, score, signals FROM recall(@q, k => @k, tags => @tags)",
            new { q = "window seat on a flight", k = 3, tags = new[] { "dapper" } })).ToList();
        AssertVectorRows(rows, Facts[0]);
        Assert.Equal(3, rows.Count);
        await _db.AssertEmbeddedByTheProxyAsync(workspace, [.. Facts, "Lisbon is the city Dana usually flies from"]);
    }

    [Fact]
    public async Task Dapper_ListParameter_ExecutesRememberOncePerItem_AndEachIsEmbedded()
    {
        var workspace = await _db.NewWorkspaceAsync("dapper_list");
        await using var conn = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace));
        await conn.OpenAsync();
        var executed = await conn.ExecuteAsync("CALL remember(@content, kind => @kind)", Facts.Select(f => new { content = f, kind = "fact" }));
        Assert.Equal(-Facts.Length, executed); // CALL reports -1 affected rows per execution
        foreach (var fact in Facts)
        {
            var rows = (await conn.QueryAsync<RecallRow>("SELECT content, similarity, signals FROM recall(@q, k => 1)", new { q = fact })).ToList();
            AssertVectorRows(rows, fact);
            Assert.True(rows[0].Similarity > 0.99f, $"'{fact}' recalled itself with similarity {rows[0].Similarity}");
        }
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts);
    }

    [Fact]
    public async Task Dapper_QueryMultipleWithRememberAndRecallInOneCommand_RewritesEachStatement()
    {
        var workspace = await _db.NewWorkspaceAsync("dapper_multi");
        await using var conn = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace));
        await conn.OpenAsync();
        // Npgsql splits the text into three statements, each with its own positional parameters.
        await using var multi = await conn.QueryMultipleAsync(
            "CALL remember(@a, tags => @tags); CALL remember(@b, tags => @tags); SELECT content, similarity, signals FROM recall(@q, k => 2, tags => @tags)",
            new { a = Facts[2], b = Facts[3], q = "where does the cat sleep", tags = new[] { "multi" } });
        var first = await multi.ReadSingleAsync<Guid>();
        var second = await multi.ReadSingleAsync<Guid>();
        var rows = (await multi.ReadAsync<RecallRow>()).ToList();
        Assert.NotEqual(first, second);
        AssertVectorRows(rows, Facts[3]);
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts[2..4]);
    }

    [Fact]
    public async Task Dapper_SameRecallDirectlyToPostgres_FallsBackToLexical()
    {
        var workspace = await _db.NewWorkspaceAsync("dapper_direct");
        await using (var proxied = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace)))
        {
            await proxied.ExecuteAsync("CALL remember(@c)", Facts.Select(c => new { c }));
            AssertVectorRows((await proxied.QueryAsync<RecallRow>("SELECT content, similarity, signals FROM recall(@q, k => 3)", new { q = "window seats" })).ToList(), Facts[0]);
        }
        await using var direct = new NpgsqlConnection(_db.NpgsqlConnectionString(workspace, direct: true));
        var rows = (await direct.QueryAsync<RecallRow>("SELECT content, similarity, signals FROM recall(@q, k => 3)", new { q = "window seats" })).ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, r =>
        {
            Assert.DoesNotContain("vector", r.Signals);
            Assert.Contains("lexical", r.Signals);
            Assert.Contains(r.Signals, s => s.StartsWith("fallback: no query vector", StringComparison.Ordinal));
            Assert.Null(r.Similarity);
        });
        await _db.AssertEmbeddedByTheProxyAsync(workspace, Facts);
    }
}
