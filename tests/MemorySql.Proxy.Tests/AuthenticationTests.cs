using MemorySql.Proxy.Tests.Support;
using Npgsql;

namespace MemorySql.Proxy.Tests;

/// <summary>PostgreSQL decides who gets in: every method it uses is relayed, and its refusals reach the client unchanged.</summary>
public sealed class AuthenticationTests : IClassFixture<ProxyFixture>
{
    private readonly ProxyFixture _db;

    public AuthenticationTests(ProxyFixture db) => _db = db;

    private string ConnectionString(string user, string password, string extra = "") =>
        $"Host=127.0.0.1;Port={_db.ProxyPort};Username={user};Password={password};Database={_db.Name};Pooling=false;{extra}";

    [Theory]
    [InlineData(RoleAuth.Scram, "proxy_scram_user")]
    [InlineData(RoleAuth.Md5, "proxy_md5_user")]
    [InlineData(RoleAuth.Cleartext, "proxy_cleartext_user")]
    public async Task Login_WithEachPasswordMethod_RunsAsThatRole(RoleAuth auth, string role)
    {
        await _db.EnsureRoleAsync(role, "pw-" + role, auth);
        await using var conn = new NpgsqlConnection(ConnectionString(role, "pw-" + role));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT current_user, session_user", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(role, reader.GetString(0));
        Assert.Equal(role, reader.GetString(1));
    }

    [Theory]
    [InlineData(RoleAuth.Scram, "proxy_scram_user")]
    [InlineData(RoleAuth.Md5, "proxy_md5_user")]
    [InlineData(RoleAuth.Cleartext, "proxy_cleartext_user")]
    public async Task Login_WithWrongPassword_GetsPostgresRefusal28P01(RoleAuth auth, string role)
    {
        await _db.EnsureRoleAsync(role, "pw-" + role, auth);
        await using var conn = new NpgsqlConnection(ConnectionString(role, "wrong"));
        var e = await Assert.ThrowsAsync<PostgresException>(() => conn.OpenAsync());
        Assert.Equal("28P01", e.SqlState);
    }

    [Fact]
    public async Task Login_ToMissingDatabase_GetsPostgresError3D000()
    {
        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={_db.ProxyPort};Username={_db.Server.AdminUser};Password={_db.Server.AdminPassword};Database=no_such_db;Pooling=false");
        var e = await Assert.ThrowsAsync<PostgresException>(() => conn.OpenAsync());
        Assert.Equal("3D000", e.SqlState);
    }

    [Fact]
    public async Task Scram_WithNpgsqlChannelBindingPrefer_Works()
    {
        // Npgsql sends the GS2 header "y,," or "n,," depending on the server's offer; both must pass.
        await using var conn = new NpgsqlConnection(_db.ProxyConnectionString("Pooling=false;Channel Binding=Prefer"));
        await conn.OpenAsync();
        Assert.Equal(System.Data.ConnectionState.Open, conn.State);
    }
}
