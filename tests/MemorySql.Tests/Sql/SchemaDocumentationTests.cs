using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

public sealed class SchemaDocumentationTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public SchemaDocumentationTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task EveryRoutineAndViewInSchemaMemory_HasAComment()
    {
        var missing = await _db.Admin.QueryAsync("""
            SELECT p.oid::regprocedure::text AS name FROM pg_proc p
             WHERE p.pronamespace = 'memory'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
            UNION ALL
            SELECT c.oid::regclass::text FROM pg_class c
             WHERE c.relnamespace = 'memory'::regnamespace AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL
            """);
        Assert.True(missing.Count == 0, "without COMMENT: " + string.Join(", ", missing.Select(r => r["name"])));
        Assert.True(await _db.ScalarAsync<long>("SELECT count(*) FROM pg_proc WHERE pronamespace = 'memory'::regnamespace") > 40);
    }

    [Fact]
    public async Task EveryUserFacingRoutine_IsDocumentedInDocsSqlMd()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "sql.md"))) dir = dir.Parent;
        var docs = await File.ReadAllTextAsync(Path.Combine(dir!.FullName, "docs", "sql.md"));
        foreach (var name in new[] { "remember", "recall", "reflect", "forget", "forget_subject", "revise", "history", "associate",
                                     "dissociate", "traverse", "session_start", "session_set", "session_get", "session_commit",
                                     "session_end", "briefing", "ingest", "register_model", "create_workspace", "grant_workspace",
                                     "drop_workspace", "resolve_contradiction", "memories_current", "contradictions", "stats",
                                     "embedding_status", "extraction_status", "policy", "store", "bm25", "llm_usage", "llm_budget",
                                     "llm_usage_summary", "llm_day_start", "worker_status", "worker_health", "worker_summary",
                                     "reflection_status", "reflection_queue", "reflection_groups", "reflection_topics",
                                     "reflection_members", "summaries_of", "reflect_context", "reflect_recall", "check_status" })
            Assert.Contains(name, docs);
    }

    [Fact]
    public async Task ShortNames_WorkThroughTheDatabaseSearchPath()
    {
        var ws = await _db.CreateWorkspaceAsync("schema_path");
        Assert.Contains("memory", await ws.ScalarAsync<string>("SHOW search_path"));
        Assert.NotEqual(Guid.Empty, await ws.ScalarAsync<Guid>("CALL remember('short names work')"));
        Assert.NotEqual(Guid.Empty, await ws.ScalarAsync<Guid>("CALL memory.remember('qualified names work')"));
    }
}
