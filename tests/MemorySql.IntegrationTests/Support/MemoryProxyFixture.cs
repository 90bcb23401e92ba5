using System.Globalization;
using System.Text.Json;
using MemorySql.Embeddings;
using MemorySql.Proxy;
using MemorySql.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.IntegrationTests.Support;

/// <summary>
/// The real MemorySql proxy, in-process, with the real builtin embedding provider, in front of a fresh
/// migrated database on the test cluster, with the builtin model registered as the default model.
/// The embed worker is deliberately <b>not</b> running: every embedding a test finds was written by the
/// proxy on the way, and a recall sent directly to PostgreSQL has no vector (its query is only queued).
/// </summary>
public sealed class MemoryProxyFixture : TestDatabase
{
    // Roles are cluster-wide and the test classes run in parallel: workspaces are created one at a time
    // (concurrent role changes can fail with "tuple concurrently updated").
    private static readonly SemaphoreSlim RoleCreation = new(1, 1);

    public BuiltinEmbeddingProvider Embeddings { get; } = new();
    public ProxyServer Proxy { get; private set; } = null!;
    public int ProxyPort => Proxy.LocalEndPoint.Port;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // What the embed worker does at startup (memory.register_model is idempotent); the worker itself stays off.
        await ExecuteAsync("SELECT memory.register_model($1, $2, true)", Embeddings.Model, Embeddings.Dimension);
        var options = new ProxyOptions
        {
            Port = 0,
            Upstream = { Host = "127.0.0.1", Port = Server.Port, TlsMode = UpstreamTlsMode.Disable },
        };
        Proxy = new ProxyServer(options, Embeddings, NullLoggerFactory.Instance);
        await Proxy.StartAsync(CancellationToken.None);
    }

    public override async Task DisposeAsync()
    {
        if (Proxy is not null) await Proxy.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>A new workspace (a LOGIN role with a SCRAM password), so each test sees only its own memories.</summary>
    public async Task<TestRole> NewWorkspaceAsync(string hint)
    {
        await RoleCreation.WaitAsync();
        try
        {
            return await CreateWorkspaceAsync(hint);
        }
        finally
        {
            RoleCreation.Release();
        }
    }

    /// <summary>How a client reaches the database as <paramref name="role"/>: through the proxy, or directly (the control).</summary>
    public ClientEndpoint Endpoint(TestRole role, bool direct = false) =>
        new("127.0.0.1", direct ? Server.Port : ProxyPort, role.Name, role.Password, Name);

    /// <summary>An Npgsql connection string through the proxy (or directly) as <paramref name="role"/>.</summary>
    public string NpgsqlConnectionString(TestRole role, string extra = "Pooling=false", bool direct = false) =>
        Endpoint(role, direct).NpgsqlConnectionString + ";" + extra;

    /// <summary>Every memory of a workspace with its embedding for the builtin model (null when it has none), read as the admin.</summary>
    public async Task<IReadOnlyList<StoredMemory>> StoredMemoriesAsync(TestRole workspace)
    {
        await using var cmd = Admin.CreateCommand(
            """
            SELECT m.content, m.status, e.embedding::real[]
              FROM memory.memories m
              LEFT JOIN memory.embeddings e ON e.memory_id = m.id AND e.model = $2
             WHERE m.workspace = $1::name
             ORDER BY m.created_at
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = workspace.Name });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Embeddings.Model });
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<StoredMemory>();
        while (await reader.ReadAsync())
            rows.Add(new StoredMemory(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetFieldValue<float[]>(2)));
        return rows;
    }

    /// <summary>
    /// Runs one scenario of a client program of tests/clients in a new workspace of its own (named after
    /// <paramref name="hint"/>), with the proxy's endpoint and the direct one (the control) in its environment,
    /// and returns the JSON report it printed last and the workspace, to check what it stored.
    /// </summary>
    public async Task<(JsonElement Report, TestRole Workspace)> RunClientAsync(string hint, string program, IEnumerable<string> arguments,
        string? workingDirectory = null)
    {
        var workspace = await NewWorkspaceAsync(hint);
        var env = Endpoint(workspace).Environment(direct: Endpoint(workspace, direct: true));
        var result = await ExternalProcess.RunAsync(program, arguments, env, workingDirectory: workingDirectory);
        return (result.Report(), workspace);
    }

    /// <summary><see cref="AssertEmbeddedByTheProxyAsync"/> for every text a client's report lists under "written".</summary>
    public Task AssertWrittenAreEmbeddedAsync(JsonElement report, TestRole workspace) =>
        AssertEmbeddedByTheProxyAsync(workspace, RecallReport.Strings(report.GetProperty("written")));

    /// <summary>
    /// Checks, as the admin, that each of <paramref name="contents"/> is stored in the workspace with an embedding
    /// for the builtin model equal to the builtin embedding of that very text, and that nothing of the workspace
    /// waits in the embed queue: with the worker off, only the proxy can have put it there.
    /// </summary>
    public async Task AssertEmbeddedByTheProxyAsync(TestRole workspace, IEnumerable<string> contents)
    {
        var stored = await StoredMemoriesAsync(workspace);
        foreach (var content in contents)
        {
            var row = stored.FirstOrDefault(m => m.Content == content);
            Assert.True(row is not null, $"'{content}' is not stored in workspace {workspace.Name}; stored: {string.Join(" | ", stored.Select(m => m.Content))}");
            Assert.True(row.Embedding is not null, $"'{content}' has no {Embeddings.Model} embedding (the proxy did not embed it)");
            var similarity = Cosine(row.Embedding, Embeddings.Embed(content));
            Assert.True(similarity > 0.999, $"the stored embedding of '{content}' is not the builtin embedding of that text (cosine {similarity.ToString(CultureInfo.InvariantCulture)})");
        }
        var queued = await ScalarAsync<long>("SELECT count(*) FROM memory.embedding_queue WHERE workspace = $1::name", workspace.Name);
        Assert.Equal(0L, queued);
    }

    /// <summary>Checks, as the admin, that every embedding stored in the workspace is the builtin embedding of its memory's own text.</summary>
    public async Task AssertNoWrongEmbeddingAsync(TestRole workspace)
    {
        foreach (var memory in await StoredMemoriesAsync(workspace))
        {
            if (memory.Embedding is null) continue;
            var similarity = Cosine(memory.Embedding, Embeddings.Embed(memory.Content));
            Assert.True(similarity > 0.999, $"the embedding stored for '{memory.Content}' is not the embedding of that text (cosine {similarity.ToString(CultureInfo.InvariantCulture)})");
        }
    }

    private static double Cosine(float[] a, float[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}

public sealed record StoredMemory(string Content, string Status, float[]? Embedding);

/// <summary>Where and as whom a client connects.</summary>
public sealed record ClientEndpoint(string Host, int Port, string User, string Password, string Database)
{
    public string NpgsqlConnectionString =>
        string.Create(CultureInfo.InvariantCulture, $"Host={Host};Port={Port};Username={User};Password={Password};Database={Database}");

    /// <summary>The environment the client programs in tests/clients read (MEMORYSQL_*), plus libpq's PG* for psql.</summary>
    public Dictionary<string, string> Environment(ClientEndpoint? direct = null)
    {
        var env = new Dictionary<string, string>
        {
            ["MEMORYSQL_HOST"] = Host,
            ["MEMORYSQL_PORT"] = Port.ToString(CultureInfo.InvariantCulture),
            ["MEMORYSQL_USER"] = User,
            ["MEMORYSQL_PASSWORD"] = Password,
            ["MEMORYSQL_DATABASE"] = Database,
            ["PGHOST"] = Host,
            ["PGPORT"] = Port.ToString(CultureInfo.InvariantCulture),
            ["PGUSER"] = User,
            ["PGPASSWORD"] = Password,
            ["PGDATABASE"] = Database,
            ["PGCONNECT_TIMEOUT"] = "10",
        };
        if (direct is not null) env["MEMORYSQL_DIRECT_PORT"] = direct.Port.ToString(CultureInfo.InvariantCulture);
        return env;
    }
}
