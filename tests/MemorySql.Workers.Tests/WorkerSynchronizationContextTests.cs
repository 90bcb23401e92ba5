using MemorySql.Testing;
using MemorySql.Workers.Common;
using Npgsql;

namespace MemorySql.Workers.Tests;

/// <summary>
/// The workers run in the proxy's process, where socket completions run inline on .NET's socket threads. These
/// tests stand a dedicated thread in for the socket thread: it completes what the worker awaits and must get on
/// with its own work (as the socket thread must read the next socket) whatever the worker does next.
/// </summary>
public sealed class WorkerSynchronizationContextTests
{
    [Fact]
    public async Task Worker_ContinuingAfterIoCompletedOnAnotherThread_NeverBlocksThatThread()
    {
        var io = new TaskCompletionSource(); // completes its awaiters inline, as a socket completion does
        var answerSent = new ManualResetEventSlim();
        var continuationThread = 0;
        var sawAnswer = false;

        var awaiting = new ManualResetEventSlim();
        var worker = Task.Run(async () =>
        {
            await WorkerSynchronizationContext.Enter();
            awaiting.Set();
            await io.Task;
            continuationThread = Environment.CurrentManagedThreadId;
            // A synchronous wait for something only the completing thread will do once it is free again (as
            // Npgsql's savepoint methods waited for a socket read): inline on that thread this can never succeed.
            sawAnswer = answerSent.Wait(TimeSpan.FromSeconds(10));
        });

        var socketThreadId = 0;
        var socketThread = new Thread(() =>
        {
            socketThreadId = Environment.CurrentManagedThreadId;
            awaiting.Wait();
            Thread.Sleep(50); // let the worker register its continuation on io.Task
            io.SetResult();
            answerSent.Set();
        }) { IsBackground = true, Name = "stand-in socket thread" };
        socketThread.Start();
        await worker.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(sawAnswer, "the worker's continuation ran on the completing thread and blocked it");
        Assert.NotEqual(socketThreadId, continuationThread);
    }

    [Fact]
    public async Task Worker_UnderTheContext_StaysUnderItAcrossAwaits()
    {
        SynchronizationContext? afterDelay = null, afterYield = null;
        await Task.Run(async () =>
        {
            await WorkerSynchronizationContext.Enter();
            await Task.Delay(1);
            afterDelay = SynchronizationContext.Current;
            await Task.Yield();
            afterYield = SynchronizationContext.Current;
        });
        Assert.Same(WorkerSynchronizationContext.Instance, afterDelay);
        Assert.Same(WorkerSynchronizationContext.Instance, afterYield);
        Assert.Null(SynchronizationContext.Current);
    }
}

public sealed class SavepointTests
{
    [Fact]
    public async Task RollbackTo_UndoesOnlyWhatFollowedTheSavepoint_AndReleaseKeepsIt()
    {
        var server = await PostgresServer.GetAsync();
        await using var connection = new NpgsqlConnection(server.AdminConnectionString());
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await Run("CREATE TEMP TABLE t (v int)");
        await Run("INSERT INTO t VALUES (1)");
        await Savepoint.CreateAsync(connection, "first", CancellationToken.None);
        await Run("INSERT INTO t VALUES (2)");
        await Savepoint.RollbackToAsync(connection, "first", CancellationToken.None);
        await Savepoint.CreateAsync(connection, "second", CancellationToken.None);
        await Run("INSERT INTO t VALUES (3)");
        await Savepoint.ReleaseAsync(connection, "second", CancellationToken.None);
        await using var command = new NpgsqlCommand("SELECT string_agg(v::text, ',' ORDER BY v) FROM t", connection);
        Assert.Equal("1,3", await command.ExecuteScalarAsync());
        await transaction.RollbackAsync();

        async Task Run(string sql)
        {
            await using var c = new NpgsqlCommand(sql, connection);
            await c.ExecuteNonQueryAsync();
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("x; DROP TABLE t")]
    [InlineData("Upper")]
    public async Task Create_WithAnythingButAPlainIdentifier_IsRefused(string name)
    {
        await using var connection = new NpgsqlConnection();
        await Assert.ThrowsAsync<ArgumentException>(() => Savepoint.CreateAsync(connection, name, CancellationToken.None));
    }
}
