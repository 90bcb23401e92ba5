using System.Text.Json;
using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class BriefingReflectIngestTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public BriefingReflectIngestTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Briefing_LabelsPinnedContradictionsSummariesImportantAndRecent()
    {
        var ws = await _db.CreateWorkspaceAsync("brief");
        var pinned = await ws.ScalarAsync<Guid>("CALL remember('Never book red-eye flights for Dana', entity => 'dana', pinned => true)");
        var a = await ws.ScalarAsync<Guid>("CALL remember('Dana is vegetarian', entity => 'dana')");
        var b = await ws.ScalarAsync<Guid>("CALL remember('Dana ordered the steak', entity => 'dana')");
        await ws.ExecuteAsync("CALL associate($1, $2, 'contradicts', 0.8)", b, a);
        var summary = await ws.ScalarAsync<Guid>("CALL remember('Dana travels monthly for work', kind => 'summary', layer => 'category', entity => 'dana')");
        var important = await ws.ScalarAsync<Guid>("CALL remember('Dana has a severe nut allergy', importance => 1, entity => 'dana')");
        var global = await ws.ScalarAsync<Guid>("CALL remember('Company travel policy: economy under 6 hours')");
        var other = await ws.ScalarAsync<Guid>("CALL remember('Bob likes trains', entity => 'bob')");
        var rows = await ws.DataSource.QueryAsync("SELECT id, reason, detail::text AS detail FROM briefing('dana', k => 5)");
        var reasons = rows.ToDictionary(r => (Guid)r["id"]!, r => (string)r["reason"]!);
        Assert.Equal("pinned", reasons[pinned]);
        Assert.Equal("contradiction", reasons[a]);
        Assert.Equal("contradiction", reasons[b]);
        Assert.Equal("summary", reasons[summary]);
        Assert.Equal("important", reasons[important]);
        Assert.Contains(global, reasons.Keys);
        Assert.DoesNotContain(other, reasons.Keys);
        Assert.Equal("pinned", rows[0]["reason"]);
        Assert.Contains(b.ToString(), (string)rows.First(r => (Guid)r["id"]! == a)["detail"]!);
        Assert.Equal(rows.Count, rows.Select(r => r["id"]).Distinct().Count());
        var open = Assert.Single(await ws.DataSource.QueryAsync("SELECT id, newer_id, older_id FROM memory.contradictions"));
        Assert.Equal(b, open["newer_id"]);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'contradictions' AND key = 'open'"));
        await ws.ExecuteAsync("CALL resolve_contradiction($1, keep => 'both', note => 'the steak was for a colleague')", open["id"]);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.contradictions"));
    }

    [Fact]
    public async Task Reflect_Offline_IsExtractive_ListsSources_AndIsRecorded()
    {
        var ws = await _db.CreateWorkspaceAsync("refl");
        var s1 = await ws.ScalarAsync<Guid>("CALL remember('Dana prefers window seats')");
        var s2 = await ws.ScalarAsync<Guid>("CALL remember('Dana flies out of Lisbon on Mondays')");
        await ws.ExecuteAsync("CALL remember('The build server runs Debian')");
        var json = await ws.ScalarAsync<string>("SELECT reflect('what do we know about Dana travel flights seats?')::text");
        using var doc = JsonDocument.Parse(json!);
        var root = doc.RootElement;
        Assert.Equal("extractive", root.GetProperty("mode").GetString());
        Assert.Contains("Extractive", root.GetProperty("note").GetString());
        var sources = root.GetProperty("sources").EnumerateArray().Select(s => s.GetProperty("id").GetGuid()).ToList();
        Assert.Contains(s1, sources);
        Assert.Contains(s2, sources);
        Assert.Contains("Dana prefers window seats", root.GetProperty("synthesis").GetString());
        var reflection = root.GetProperty("reflection_id").GetGuid();
        var stored = Assert.Single(await ws.DataSource.QueryAsync("SELECT layer, kind, tags FROM memory.memories WHERE id = $1", reflection));
        Assert.Equal("category", stored["layer"]);
        Assert.Equal("summary", stored["kind"]);
        Assert.Equal(sources.Count, (int)await ws.ScalarAsync<long>("SELECT count(*) FROM memory.associations WHERE source_id = $1 AND relation = 'summarizes'", reflection));
        // A second reflection does not summarise the first one.
        var again = await ws.ScalarAsync<string>("SELECT reflect('what do we know about Dana travel flights seats?')::text");
        Assert.DoesNotContain(reflection.ToString(), JsonDocument.Parse(again!).RootElement.GetProperty("sources").ToString());
    }

    [Fact]
    public async Task Reflect_WithLlmSynthesis_RecordsItWithTheGivenSources()
    {
        var ws = await _db.CreateWorkspaceAsync("refl_llm");
        var s1 = await ws.ScalarAsync<Guid>("CALL remember('Dana prefers window seats')");
        var json = await ws.ScalarAsync<string>("SELECT reflect('Dana seats', _synthesis => 'Dana likes window seats.', _sources => ARRAY[$1]::uuid[])::text", s1);
        var root = JsonDocument.Parse(json!).RootElement;
        Assert.Equal("llm", root.GetProperty("mode").GetString());
        Assert.Equal("Dana likes window seats.", root.GetProperty("synthesis").GetString());
        Assert.Equal(s1, root.GetProperty("sources")[0].GetProperty("id").GetGuid());
        var bad = await ws.DataSource.FailsAsync("SELECT reflect('x', _synthesis => 'y', _sources => ARRAY[$1]::uuid[])", Guid.NewGuid());
        Assert.Equal("22023", bad.SqlState);
    }

    [Fact]
    public async Task Ingest_StoresResourceOnce_AndQueuesExtractionOnce()
    {
        var ws = await _db.CreateWorkspaceAsync("ingest");
        const string messages = "[{\"role\": \"user\", \"content\": \"I moved to Porto\"}, {\"role\": \"assistant\", \"content\": \"Noted!\"}]";
        var first = await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => 'dana')", messages);
        var second = await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => 'dana')", messages);
        Assert.Equal(first, second);
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.resources"));
        var queue = Assert.Single(await ws.DataSource.QueryAsync("SELECT resource_id, state, attempts FROM memory.extraction_queue"));
        Assert.Equal(first, queue["resource_id"]);
        Assert.Equal("queued", queue["state"]);
        Assert.Single(await ws.DataSource.QueryAsync("SELECT * FROM memory.extraction_status"));
        Assert.Equal(1L, await ws.ScalarAsync<long>("SELECT value FROM memory.stats WHERE section = 'extraction_queue' AND key = 'queued'"));
    }

    [Fact]
    public async Task Ingest_SameMessagesForAnotherEntity_StoresAndQueuesAnotherResource()
    {
        var ws = await _db.CreateWorkspaceAsync("ingest_two");
        const string messages = "[{\"role\": \"user\", \"content\": \"I prefer window seats\"}]";
        var dana = await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => 'dana')", messages);
        var erin = await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => 'erin')", messages);
        var erinSession = await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => 'erin', kind => 'document')", messages);
        Assert.Equal(3, new[] { dana, erin, erinSession }.Distinct().Count());
        Assert.Equal(erin, await ws.ScalarAsync<Guid>("CALL ingest($1::jsonb, entity => 'erin')", messages));
        Assert.Equal(new object?[] { "dana", "erin", "erin" },
            (await ws.DataSource.QueryAsync("SELECT r.entity FROM memory.extraction_queue q JOIN memory.resources r ON r.id = q.resource_id ORDER BY 1"))
                .Select(row => row["entity"]).ToArray());
    }

    [Theory]
    [InlineData("CALL ingest('[]')")]
    [InlineData("CALL ingest('{\"content\": \"x\"}')")]
    [InlineData("CALL ingest('[{\"role\": \"user\"}]')")]
    [InlineData("CALL ingest('[{\"content\": 42}]')")]
    [InlineData("CALL ingest(NULL)")]
    public async Task Ingest_BadMessages_Fails22023AndWritesNothing(string call)
    {
        var ws = await _db.CreateWorkspaceAsync("ing_bad_" + Math.Abs(call.GetHashCode() % 100000));
        var e = await ws.DataSource.FailsAsync(call);
        Assert.Equal("22023", e.SqlState);
        Assert.Contains("messages", e.MessageText);
        Assert.Equal(0L, await ws.ScalarAsync<long>("SELECT count(*) FROM memory.resources"));
    }
}
