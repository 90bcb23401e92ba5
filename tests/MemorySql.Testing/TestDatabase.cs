using Npgsql;
using Xunit;

namespace MemorySql.Testing;

/// <summary>
/// A class fixture: a fresh, migrated database for one test class on the shared test cluster.
/// Use it with IClassFixture&lt;TestDatabase&gt;.
/// </summary>
public class TestDatabase : IAsyncLifetime
{
    private NpgsqlDataSource? _adminDataSource;
    private readonly List<string> _roles = [];
    private readonly HashSet<string> _issued = [];
    private readonly List<NpgsqlDataSource> _dataSources = [];

    public PostgresServer Server { get; private set; } = null!;
    public string Name { get; private set; } = "";
    public string AdminConnectionString => Server.AdminConnectionString(Name);

    /// <summary>A pooled data source as the cluster's admin (owner of the memory schema; RLS does not apply).</summary>
    public NpgsqlDataSource Admin => _adminDataSource ??= NpgsqlDataSource.Create(Server.Cluster.AdminConnectionString(Name));

    public virtual async Task InitializeAsync()
    {
        Server = await PostgresServer.GetAsync();
        Name = await Server.CreateDatabaseAsync(GetType().Name);
    }

    public virtual async Task DisposeAsync()
    {
        if (_adminDataSource is not null) await _adminDataSource.DisposeAsync();
        foreach (var dataSource in _dataSources) await dataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        if (Name.Length > 0) await Server.DropDatabaseAsync(Name);
        // Roles are cluster-wide: drop the ones this database's tests created, members before groups.
        for (var i = _roles.Count - 1; i >= 0; i--) await Server.DropRoleAsync(_roles[i]);
    }

    /// <summary>
    /// A role name unique on the cluster (roles are shared by every test database): this database's name
    /// plus the hint, lower case, at most 63 characters.
    /// </summary>
    public string UniqueRoleName(string hint)
    {
        var safe = new string(hint.ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '_').ToArray());
        var name = $"{Name}_{safe}";
        name = name.Length > 63 ? name[..63] : name;
        // Theories name their roles after a hash of their data (string hashes differ per process): two cases
        // may meet on one name, so a name given out before gets a number.
        lock (_issued)
        {
            var unique = name;
            for (var n = 2; !_issued.Add(unique); n++)
            {
                var suffix = "_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                unique = (name.Length + suffix.Length > 63 ? name[..(63 - suffix.Length)] : name) + suffix;
            }
            return unique;
        }
    }

    /// <summary>
    /// Creates a workspace with memory.create_workspace: a LOGIN role with a password (or, with login false,
    /// a NOLOGIN group role). The role is dropped when the fixture is disposed.
    /// </summary>
    public async Task<TestRole> CreateWorkspaceAsync(string hint, bool login = true)
    {
        var role = UniqueRoleName(hint);
        var password = login ? "pw-" + Guid.NewGuid().ToString("N") : null;
        _roles.Add(role);
        await ExecuteAsync("SELECT memory.create_workspace($1, $2)", role, password);
        return new TestRole(this, role, password ?? "");
    }

    /// <summary>A plain LOGIN role (no workspace of its own), dropped when the fixture is disposed.</summary>
    public async Task<TestRole> CreateLoginRoleAsync(string hint)
    {
        var role = UniqueRoleName(hint);
        var password = "pw-" + Guid.NewGuid().ToString("N");
        _roles.Add(role);
        await ExecuteAsync($"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'");
        return new TestRole(this, role, password);
    }

    /// <summary>A connection string to this database as a role, over TCP with password authentication.</summary>
    public string ConnectionStringFor(string role, string password) => Server.ConnectionString(role, password, Name);

    internal NpgsqlDataSource Track(NpgsqlDataSource dataSource)
    {
        lock (_dataSources) _dataSources.Add(dataSource);
        return dataSource;
    }

    /// <summary>Runs SQL as the admin and returns the first column of the first row.</summary>
    public Task<T?> ScalarAsync<T>(string sql, params object?[] args) => Admin.ScalarAsync<T>(sql, args);

    /// <summary>Runs SQL as the admin.</summary>
    public Task ExecuteAsync(string sql, params object?[] args) => Admin.ExecAsync(sql, args);
}
