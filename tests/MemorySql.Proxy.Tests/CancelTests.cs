using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>A cancel reaches exactly the session it belongs to, even when it races the end of a query.</summary>
public sealed class CancelTests : IClassFixture<ProxyFixture>
{
    private readonly ProxyFixture _db;

    public CancelTests(ProxyFixture db) => _db = db;

    [Fact]
    public async Task Cancel_ArrivingAfterItsQueryFinished_DoesNotCancelAnotherClientsQuery()
    {
        await using var a = await _db.OpenProxyAsync();
        await using var b = await _db.OpenProxyAsync();
        for (var round = 0; round < 5; round++)
        {
            await using (var quick = new NpgsqlCommand("SELECT pg_sleep(0.05)", a))
                await quick.ExecuteNonQueryAsync();
            await using var slow = new NpgsqlCommand("SELECT 'b finished' FROM pg_sleep(0.5)", b);
            var running = slow.ExecuteScalarAsync();
            await Task.Delay(50);
            // A's key, sent after A's query is done: it must not touch B.
            await FakeUpstreamTests.SendCancelAsync(_db.ProxyPort, a.ProcessID, GetSecret(a));
            Assert.Equal("b finished", (string)(await running)!);
        }

        // The same key does cancel A's own query: the test above sent a real key, not a dud.
        await using var own = new NpgsqlCommand("SELECT pg_sleep(30)", a);
        var ownRunning = own.ExecuteNonQueryAsync();
        await Task.Delay(200);
        await FakeUpstreamTests.SendCancelAsync(_db.ProxyPort, a.ProcessID, GetSecret(a));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => ownRunning);
        Assert.Equal("57014", (e as PostgresException ?? (PostgresException)e.InnerException!).SqlState);
    }

    [Fact]
    public async Task Cancel_OfOneClient_LeavesTheOtherClientsRunningQueryAlone()
    {
        await using var a = await _db.OpenProxyAsync();
        await using var b = await _db.OpenProxyAsync();
        await using var slowA = new NpgsqlCommand("SELECT pg_sleep(30)", a);
        await using var slowB = new NpgsqlCommand("SELECT 'b finished' FROM pg_sleep(1)", b);
        var runningA = slowA.ExecuteNonQueryAsync();
        var runningB = slowB.ExecuteScalarAsync();
        await Task.Delay(200);
        slowA.Cancel();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => runningA);
        Assert.Equal("57014", (e as PostgresException ?? (PostgresException)e.InnerException!).SqlState);
        Assert.Equal("b finished", (string)(await runningB)!);
    }

    /// <summary>Npgsql keeps the secret key private; read it the way its own cancel does.</summary>
    private static byte[] GetSecret(NpgsqlConnection connection)
    {
        var connector = typeof(NpgsqlConnection).GetProperty("Connector", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(connection)!;
        var field = connector.GetType().GetField("_backendSecretKey", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
                    ?? connector.GetType().GetField("<BackendSecretKey>k__BackingField", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        return field.GetValue(connector) switch
        {
            int key => BitConverter.IsLittleEndian ? BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(key)) : BitConverter.GetBytes(key),
            byte[] bytes => bytes,
            var other => throw new InvalidOperationException("unexpected secret key type " + other?.GetType()),
        };
    }
}
