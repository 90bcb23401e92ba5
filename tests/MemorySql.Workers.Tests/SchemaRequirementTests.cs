using MemorySql.Testing;
using MemorySql.Workers.Access;
using MemorySql.Workers.Common;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemorySql.Workers.Tests;

/// <summary>Workers check at start-up that the schema has what they call, and name what is missing.</summary>
public sealed class SchemaRequirementTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public SchemaRequirementTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Require_OnAMigratedDatabase_Passes()
    {
        await SchemaRequirement.RequireAsync(_db.Admin, "test",
            ["memory.memories", "memory.check_queue", "memory.fold_access(integer)", "memory.merge_duplicate(uuid, uuid, real, jsonb)"], CancellationToken.None);
    }

    [Fact]
    public async Task Require_NamesEveryMissingTableAndRoutine_AndHowToFixIt()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SchemaRequirement.RequireAsync(_db.Admin, "test",
            ["memory.memories", "memory.no_such_table", "memory.fold_access(integer)", "memory.fold_access(text)"], CancellationToken.None));

        Assert.Contains("the test worker needs memory.no_such_table, memory.fold_access(text),", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("memory.memories", error.Message, StringComparison.Ordinal);
        Assert.Contains("memorysql migrate", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>A database without memory.fold_access (dropped here): the access worker must say so and stop.</summary>
public sealed class AccessWorkerStartupTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public AccessWorkerStartupTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Worker_WithoutFoldAccess_StopsWithAClearError()
    {
        await _db.ExecuteAsync("DROP FUNCTION memory.fold_access(integer)");
        using var worker = new AccessWorker(_db.Admin, new AccessWorkerOptions(), NullLogger<AccessWorker>.Instance);
        await worker.StartAsync(CancellationToken.None);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.Ready.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("memory.fold_access(integer)", error.Message, StringComparison.Ordinal);
        await worker.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(worker.Health.Snapshot().Running);
        await worker.StopAsync(CancellationToken.None);
    }
}
