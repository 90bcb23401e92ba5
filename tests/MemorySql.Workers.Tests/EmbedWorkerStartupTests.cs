using MemorySql.Testing;
using MemorySql.Workers.Embed;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemorySql.Workers.Tests;

/// <summary>A database whose schema lacks memory.register_model (it is dropped here): the worker must say so and stop.</summary>
public sealed class EmbedWorkerStartupTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public EmbedWorkerStartupTests(TestDatabase db) => _db = db;

    [Fact]
    public async Task Worker_WithoutRegisterModel_StopsWithAClearError()
    {
        await _db.ExecuteAsync("DROP FUNCTION IF EXISTS memory.register_model(text, integer, boolean)");
        using var worker = new EmbedWorker(_db.Admin, new CountingProvider("t-nofunc"), new EmbedWorkerOptions(), NullLogger<EmbedWorker>.Instance);
        await worker.StartAsync(CancellationToken.None);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.Ready.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("memory.register_model", error.Message, StringComparison.Ordinal);
        Assert.Contains("migrat", error.Message, StringComparison.Ordinal);
        await worker.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(60));
        var health = worker.Health.Snapshot();
        Assert.False(health.Running);
        Assert.Contains("memory.register_model", health.LastError, StringComparison.Ordinal);
        await worker.StopAsync(CancellationToken.None);
    }
}
