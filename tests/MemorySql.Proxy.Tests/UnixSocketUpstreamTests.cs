using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>A proxy that reaches PostgreSQL over its Unix socket (Upstream:Host is a folder).</summary>
public sealed class UnixSocketProxyFixture : ProxyFixture
{
    protected override void Configure(ProxyOptions options) => options.Upstream.Host = Server.Cluster.SocketDir;
}

public sealed class UnixSocketUpstreamTests : IClassFixture<UnixSocketProxyFixture>
{
    private readonly UnixSocketProxyFixture _db;

    public UnixSocketUpstreamTests(UnixSocketProxyFixture db) => _db = db;

    [Fact]
    public async Task UpstreamHostAsSocketFolder_RelaysOverTheUnixSocket()
    {
        await using var conn = await _db.OpenProxyAsync();
        await using var cmd = new NpgsqlCommand("SELECT inet_server_addr() IS NULL, current_database()", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.True(reader.GetBoolean(0)); // no server address: the upstream connection is a Unix socket
        Assert.Equal(_db.Name, reader.GetString(1));
    }
}
