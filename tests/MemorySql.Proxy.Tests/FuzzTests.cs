using System.Buffers.Binary;
using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>
/// Thousands of random, truncated and oversized inputs (seeded, so a failure repeats) while a well-behaved
/// client keeps running queries: each bad connection is answered with an error or closed, nothing else is
/// affected, and the proxy stays up.
/// </summary>
public sealed class FuzzTests : IClassFixture<ProxyFixture>, IAsyncLifetime
{
    private static readonly byte[] FrontendTypes = "BCdcfDEHPpQSX"u8.ToArray();
    private readonly ProxyFixture _db;

    public FuzzTests(ProxyFixture db) => _db = db;

    public Task InitializeAsync() => _db.EnsureRoleAsync(RawProtocolTests.User, RawProtocolTests.Password, RoleAuth.Cleartext);
    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task RandomInput_NeverDisturbsOtherSessions_AndTheProxyStaysUp()
    {
        using var stop = new CancellationTokenSource();
        var healthyQueries = 0;
        var healthy = Task.Run(async () =>
        {
            await using var conn = await _db.OpenProxyAsync();
            while (!stop.IsCancellationRequested)
            {
                await using var cmd = new NpgsqlCommand("SELECT $1::int + 1", conn);
                cmd.Parameters.AddWithValue(healthyQueries);
                Assert.Equal(healthyQueries + 1, (int)(await cmd.ExecuteScalarAsync())!);
                healthyQueries++;
            }
        });

        const int startupCases = 3000;
        const int sessionCases = 300;
        await Parallel.ForAsync(0, startupCases, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            await RunStartupCaseAsync(new Random(i)));
        await Parallel.ForAsync(0, sessionCases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
            await RunSessionCaseAsync(new Random(100_000 + i)));

        await stop.CancelAsync();
        await healthy; // throws if any healthy query failed
        Assert.True(healthyQueries > 0);

        // The proxy still serves new clients, and every fuzz session has been cleaned up.
        await using var fresh = await _db.OpenProxyAsync();
        await using var check = new NpgsqlCommand("SELECT 'alive'", fresh);
        Assert.Equal("alive", await check.ExecuteScalarAsync());
        await FakeUpstreamTests.WaitUntil(() => _db.Proxy.ConnectionCount == 1);
    }

    /// <summary>Garbage where a startup packet belongs: random lengths, codes and parameter bytes, sometimes cut short.</summary>
    private async Task RunStartupCaseAsync(Random random)
    {
        byte[] bytes;
        switch (random.Next(4))
        {
            case 0:
                bytes = new byte[random.Next(1, 64)];
                random.NextBytes(bytes);
                break;
            case 1:
            {
                var body = new byte[random.Next(0, 200)];
                random.NextBytes(body);
                bytes = new byte[8 + body.Length];
                BinaryPrimitives.WriteInt32BigEndian(bytes, random.Next(2) == 0 ? bytes.Length : random.Next(int.MinValue, int.MaxValue));
                BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), random.Next(3) switch
                {
                    0 => StartupCodes.ProtocolVersion30,
                    1 => StartupCodes.CancelRequest,
                    _ => random.Next(),
                });
                body.CopyTo(bytes, 8);
                break;
            }
            case 2:
            {
                // A structurally valid startup packet with random parameter bytes, sometimes truncated.
                var b = new MessageBuilder().StartPacket().WriteInt32(StartupCodes.ProtocolVersion30 | random.Next(0, 3));
                for (var p = random.Next(0, 5); p > 0; p--)
                {
                    var name = new byte[random.Next(0, 12)];
                    var value = new byte[random.Next(0, 40)];
                    random.NextBytes(name);
                    random.NextBytes(value);
                    b.WriteBytes(name).WriteByte(0).WriteBytes(value).WriteByte(0);
                }
                b.WriteByte(0).EndMessage();
                bytes = b.ToArray();
                if (random.Next(3) == 0) bytes = bytes[..random.Next(bytes.Length)];
                break;
            }
            default:
                bytes = Msg.Concat(new MessageBuilder().SslRequest().ToArray(), new byte[random.Next(0, 30)]);
                break;
        }
        await SendAndDropAsync(bytes, random, loginFirst: false);
    }

    /// <summary>After a real login: random frontend messages with random, wrong or huge lengths.</summary>
    private async Task RunSessionCaseAsync(Random random)
    {
        var messages = new List<byte[]>();
        for (var n = random.Next(1, 6); n > 0; n--)
        {
            var type = random.Next(5) == 0 ? (byte)random.Next(256) : FrontendTypes[random.Next(FrontendTypes.Length)];
            var payload = new byte[random.Next(0, 300)];
            random.NextBytes(payload);
            var length = random.Next(4) switch
            {
                0 => random.Next(int.MinValue, 8),
                1 => random.Next(0x4000000, int.MaxValue),
                _ => payload.Length + 4,
            };
            var m = new byte[5 + payload.Length];
            m[0] = type;
            BinaryPrimitives.WriteInt32BigEndian(m.AsSpan(1), length);
            payload.CopyTo(m, 5);
            messages.Add(m);
        }
        var bytes = Msg.Concat([.. messages]);
        if (random.Next(4) == 0) bytes = bytes[..random.Next(bytes.Length)];
        await SendAndDropAsync(bytes, random, loginFirst: true);
    }

    private async Task SendAndDropAsync(byte[] bytes, Random random, bool loginFirst)
    {
        try
        {
            await using var c = await RawPgConnection.ConnectAsync(_db.ProxyPort);
            if (loginFirst) await c.LoginAsync(RawProtocolTests.User, RawProtocolTests.Password, _db.Name);
            await c.SendAsync(bytes);
            if (random.Next(2) == 0) await c.IsClosedAsync(TimeSpan.FromMilliseconds(200));
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or EndOfStreamException or OperationCanceledException)
        {
            // the proxy closed the connection: an accepted outcome for garbage
        }
    }
}
