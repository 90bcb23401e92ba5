using System.Buffers.Binary;
using MemorySql.Protocol;
using MemorySql.Proxy.Tests.Support;

namespace MemorySql.Proxy.Tests;

/// <summary>Startup-phase and framing rules checked byte by byte, against the real server behind the proxy.</summary>
public sealed class RawProtocolTests : IClassFixture<ProxyFixture>, IAsyncLifetime
{
    internal const string User = "proxy_raw_user";
    internal const string Password = "raw-secret";
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(10);
    private readonly ProxyFixture _db;

    public RawProtocolTests(ProxyFixture db) => _db = db;

    public Task InitializeAsync() => _db.EnsureRoleAsync(User, Password, RoleAuth.Cleartext);
    public Task DisposeAsync() => Task.CompletedTask;

    private Task<RawPgConnection> ConnectAsync() => RawPgConnection.ConnectAsync(_db.ProxyPort);

    [Fact]
    public async Task SslRequest_WithoutCertificate_GetsN_ThenPlaintextStartupWorks()
    {
        await using var c = await ConnectAsync();
        await c.SendAsync(new MessageBuilder().SslRequest());
        Assert.Equal('N', await c.ReadByteAsync());
        var startup = await c.LoginAsync(User, Password, _db.Name);
        Assert.Equal('Z', startup[^1].Type);
    }

    [Fact]
    public async Task SslRequestAndStartupInOneWrite_IsRejectedAsUnencryptedDataAfterSslRequest()
    {
        await using var c = await ConnectAsync();
        await c.SendAsync(Msg.Concat(new MessageBuilder().SslRequest().ToArray(), RawPgConnection.Startup(User, _db.Name)));
        var messages = await c.ReadUntilClosedAsync(Short);
        var error = Assert.Single(messages).Error;
        Assert.Equal("08P01", error.SqlState);
        Assert.Equal("received unencrypted data after SSL request", error.Message);
    }

    [Fact]
    public async Task GssEncRequest_GetsN_ThenStartupWorks()
    {
        await using var c = await ConnectAsync();
        await c.SendAsync(new MessageBuilder().GssEncRequest());
        Assert.Equal('N', await c.ReadByteAsync());
        await c.SendAsync(new MessageBuilder().SslRequest());
        Assert.Equal('N', await c.ReadByteAsync());
        Assert.Equal('Z', (await c.LoginAsync(User, Password, _db.Name))[^1].Type);
    }

    [Fact]
    public async Task Startup_3_9999_WithGreaseOption_GetsNegotiateProtocolVersion_AndContinues()
    {
        await using var c = await ConnectAsync();
        var messages = await c.LoginAsync(User, Password, _db.Name, minor: 9999, ("_pq_.test_protocol_negotiation", "on"));
        var v = messages.First();
        Assert.Equal('v', v.Type);
        Assert.Equal((3 << 16) | 2, BinaryPrimitives.ReadInt32BigEndian(v.Payload));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(v.Payload.AsSpan(4)));
        Assert.Equal("_pq_.test_protocol_negotiation\0", System.Text.Encoding.UTF8.GetString(v.Payload.AsSpan(8)));
        Assert.Equal('Z', messages[^1].Type);
        var (_, secret) = BackendMessages.ReadBackendKeyData(messages.Single(m => m.Type == 'K').Payload);
        Assert.Equal(32, secret.Length); // negotiated down to 3.2
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(2, 32)]
    public async Task BackendKeyData_SecretLength_MatchesTheProtocolVersion(int minor, int secretLength)
    {
        await using var c = await ConnectAsync();
        var messages = await c.LoginAsync(User, Password, _db.Name, minor);
        Assert.DoesNotContain(messages, m => m.Type == 'v');
        var (pid, secret) = BackendMessages.ReadBackendKeyData(messages.Single(m => m.Type == 'K').Payload);
        Assert.Equal(secretLength, secret.Length);
        await c.SendAsync(Msg.Query("SELECT pg_backend_pid()"));
        var row = (await c.ReadUntilReadyAsync()).Single(m => m.Type == 'D');
        var upstreamPid = int.Parse(System.Text.Encoding.UTF8.GetString(row.Payload.AsSpan(6)), System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(upstreamPid, pid);
    }

    [Fact]
    public async Task UnsupportedMajorVersion_Gets0A000()
    {
        await using var c = await ConnectAsync();
        var b = new MessageBuilder().StartPacket().WriteInt32(2 << 16).WriteCString("user").WriteCString(User).WriteByte(0).EndMessage();
        await c.SendAsync(b);
        Assert.Equal("0A000", (await c.ReadAsync()).Error.SqlState);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(10001)]
    [InlineData(int.MaxValue)]
    public async Task StartupPacket_WithImpossibleLength_Gets08P01_AndIsClosed(int length)
    {
        await using var c = await ConnectAsync();
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(bytes, length);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), StartupCodes.ProtocolVersion30);
        await c.SendAsync(bytes);
        var messages = await c.ReadUntilClosedAsync(Short);
        Assert.Equal("08P01", Assert.Single(messages).Error.SqlState);
    }

    [Fact]
    public async Task StartupPacket_WithoutTerminator_Gets08P01()
    {
        await using var c = await ConnectAsync();
        var b = new MessageBuilder().StartPacket().WriteInt32(StartupCodes.ProtocolVersion30).WriteCString("user").WriteBytes("x"u8).EndMessage();
        await c.SendAsync(b);
        var error = (await c.ReadAsync()).Error;
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("terminator", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartupPacket_WithoutUser_Gets28000()
    {
        await using var c = await ConnectAsync();
        var b = new MessageBuilder().StartPacket().WriteInt32(StartupCodes.ProtocolVersion30).WriteCString("database").WriteCString("x").WriteByte(0).EndMessage();
        await c.SendAsync(b);
        Assert.Equal("28000", (await c.ReadAsync()).Error.SqlState);
    }

    [Fact]
    public async Task UnknownMessageType_AfterLogin_Gets08P01_AndIsClosed()
    {
        await using var c = await ConnectAsync();
        await c.LoginAsync(User, Password, _db.Name);
        await c.SendAsync(new byte[] { (byte)'!', 0, 0, 0, 4 });
        var messages = await c.ReadUntilClosedAsync(Short);
        var error = Assert.Single(messages).Error;
        Assert.Equal("08P01", error.SqlState);
        Assert.Equal("invalid frontend message type 33", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(-5)]
    [InlineData(0x7FFFFFF0)]
    public async Task MessageWithImpossibleLength_AfterLogin_Gets08P01_AndIsClosed(int length)
    {
        await using var c = await ConnectAsync();
        await c.LoginAsync(User, Password, _db.Name);
        var bytes = new byte[5];
        bytes[0] = (byte)'Q';
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), length);
        await c.SendAsync(bytes);
        var messages = await c.ReadUntilClosedAsync(Short);
        Assert.Equal("08P01", Assert.Single(messages).Error.SqlState);
    }

    [Fact]
    public async Task MessagesBeforeAMalformedOne_AreStillExecuted()
    {
        await using var c = await ConnectAsync();
        await c.LoginAsync(User, Password, _db.Name);
        await c.SendAsync(Msg.Concat(Msg.Query("SELECT 'first'"), new byte[] { (byte)'Q', 0, 0, 0, 1 }));
        var messages = await c.ReadUntilClosedAsync(Short);
        Assert.Contains(messages, m => m.Type == 'D' && m.Text.Contains("first", StringComparison.Ordinal));
        Assert.Equal("08P01", messages.Last().Error.SqlState);
    }

    [Fact]
    public async Task ErrorResponse_ForAnUnsyncedParse_ArrivesWithoutWaitingForSync()
    {
        await using var c = await ConnectAsync();
        await c.LoginAsync(User, Password, _db.Name);
        await c.SendAsync(Msg.Concat(Msg.Parse("SELEC broken"), Msg.Flush()));
        var error = await c.ReadAsync(Short);
        Assert.Equal('E', error.Type);
        Assert.Equal("42601", error.Error.SqlState);
        await c.SendAsync(Msg.Sync());
        Assert.Equal('Z', (await c.ReadAsync()).Type);
    }

    [Fact]
    public async Task ClientThatStopsReadingAndTerminates_SessionStillEnds()
    {
        var c = await ConnectAsync();
        await c.LoginAsync(User, Password, _db.Name);
        // A result far larger than the socket buffers, never read; then Terminate.
        await c.SendAsync(Msg.Concat(Msg.Query("SELECT repeat('x', 1000) FROM generate_series(1, 50000)"), Msg.Terminate()));
        await FakeUpstreamTests.WaitUntil(() => _db.Proxy.ConnectionCount == 0);
        await c.DisposeAsync();
    }

    [Fact]
    public async Task Terminate_ClosesTheSession()
    {
        await using var c = await ConnectAsync();
        await c.LoginAsync(User, Password, _db.Name);
        await c.SendAsync(Msg.Terminate());
        Assert.True(await c.IsClosedAsync(Short));
    }
}
