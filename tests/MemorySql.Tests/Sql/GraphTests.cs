using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class GraphTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public GraphTests(TestDatabase db) => _db = db;

    private static async Task<Guid[]> NodesAsync(TestRole ws, int count)
    {
        var ids = new Guid[count];
        for (var i = 0; i < count; i++) ids[i] = await ws.ScalarAsync<Guid>("CALL remember($1)", $"node {(char)('a' + i)}");
        return ids;
    }

    [Fact]
    public async Task Associate_AddsEdge_ThenUpdatesItsWeight()
    {
        var ws = await _db.CreateWorkspaceAsync("gr_assoc");
        var n = await NodesAsync(ws, 2);
        await ws.ExecuteAsync("CALL associate($1, $2, 'supports', 0.4)", n[0], n[1]);
        await ws.ExecuteAsync("CALL associate($1, $2, 'supports', weight => 0.9, metadata => '{\"why\": \"test\"}')", n[0], n[1]);
        var edge = Assert.Single(await ws.DataSource.QueryAsync("SELECT weight, metadata::text AS metadata FROM memory.associations"));
        Assert.Equal(0.9f, (float)edge["weight"]!);
        Assert.Contains("test", (string)edge["metadata"]!);
        Assert.Equal(2L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.events WHERE action = 'associate'"));
    }

    [Fact]
    public async Task Traverse_WithCycle_VisitsEachNodeOnceAtShortestDepth()
    {
        var ws = await _db.CreateWorkspaceAsync("gr_cycle");
        var n = await NodesAsync(ws, 4); // a -> b -> c -> a, c -> d
        await ws.ExecuteAsync("CALL associate($1, $2, 'relates_to')", n[0], n[1]);
        await ws.ExecuteAsync("CALL associate($1, $2, 'relates_to')", n[1], n[2]);
        await ws.ExecuteAsync("CALL associate($1, $2, 'relates_to')", n[2], n[0]);
        await ws.ExecuteAsync("CALL associate($1, $2, 'caused_by', 0.5)", n[2], n[3]);
        var rows = await ws.DataSource.QueryAsync("SELECT id, depth, path, relation, direction, weight FROM traverse($1, depth => 5, direction => 'out')", n[0]);
        Assert.Equal(4, rows.Count);
        var byId = rows.ToDictionary(r => (Guid)r["id"]!);
        Assert.Equal(0, byId[n[0]]["depth"]);
        Assert.Equal(1, byId[n[1]]["depth"]);
        Assert.Equal(2, byId[n[2]]["depth"]);
        Assert.Equal(3, byId[n[3]]["depth"]);
        Assert.Equal(new[] { n[0], n[1], n[2], n[3] }, (Guid[])byId[n[3]]["path"]!);
        Assert.Equal("caused_by", byId[n[3]]["relation"]);
        Assert.Equal(0.5f, (float)byId[n[3]]["weight"]!);
        // Both directions: c is one edge back from a.
        var both = await ws.DataSource.QueryAsync("SELECT id, depth, direction FROM traverse($1, 1)", n[0]);
        Assert.Equal(3, both.Count);
        Assert.Contains(both, r => (Guid)r["id"]! == n[2] && (string)r["direction"]! == "in");
    }

    [Fact]
    public async Task Traverse_RelationsFilterAndDepth_LimitTheWalk()
    {
        var ws = await _db.CreateWorkspaceAsync("gr_filter");
        var n = await NodesAsync(ws, 3);
        await ws.ExecuteAsync("CALL associate($1, $2, 'supports')", n[0], n[1]);
        await ws.ExecuteAsync("CALL associate($1, $2, 'part_of')", n[1], n[2]);
        Assert.Equal(2, (await ws.DataSource.QueryAsync("SELECT id FROM traverse($1, 5, relations => '{supports}')", n[0])).Count);
        Assert.Single(await ws.DataSource.QueryAsync("SELECT id FROM traverse($1, 0)", n[0]));
        Assert.Equal(3, (await ws.DataSource.QueryAsync("SELECT id FROM traverse($1)", n[0])).Count);
    }

    [Theory]
    [InlineData("CALL associate($1, $2, 'Not A Relation')", "relation")]
    [InlineData("CALL associate($1, $2, 'relates_to', 2)", "weight")]
    [InlineData("CALL associate($1, $2, 'relates_to', 'NaN')", "weight")]
    [InlineData("CALL associate($1, $1, 'relates_to')", "target")]
    [InlineData("SELECT * FROM traverse($1, -1)", "depth")]
    [InlineData("SELECT * FROM traverse($1, 2, relations => '{BAD-rel}')", "relations")]
    [InlineData("SELECT * FROM traverse($1, 2, direction => 'sideways')", "direction")]
    public async Task Graph_BadInput_Fails22023(string sql, string argument)
    {
        var ws = await _db.CreateWorkspaceAsync("gr_bad_" + Math.Abs(sql.GetHashCode() % 100000));
        var n = await NodesAsync(ws, 2);
        var e = sql.Contains("$2", StringComparison.Ordinal)
            ? await ws.DataSource.FailsAsync(sql, n[0], n[1])
            : await ws.DataSource.FailsAsync(sql, n[0]);
        Assert.Equal("22023", e.SqlState);
        Assert.Contains(argument, e.MessageText);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations"));
    }

    [Fact]
    public async Task Dissociate_RemovesEdge()
    {
        var ws = await _db.CreateWorkspaceAsync("gr_dissoc");
        var n = await NodesAsync(ws, 2);
        await ws.ExecuteAsync("CALL associate($1, $2, 'supports')", n[0], n[1]);
        await ws.ExecuteAsync("CALL dissociate($1, $2, 'supports')", n[0], n[1]);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations"));
    }
}
