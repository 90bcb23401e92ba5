using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MemorySql.Embeddings;
using MemorySql.Embeddings.Llm;
using MemorySql.Proxy;
using MemorySql.Testing;
using MemorySql.Workers.Llm;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace MemorySql.IntegrationTests;

/// <summary>
/// The real proxy with the builtin embedding model and the real OpenAI-compatible chat provider, talking to a scripted
/// LLM server, in front of a fresh migrated database; LLM usage written by the real usage writer. Tests swap the
/// script with <see cref="Answer"/>.
/// </summary>
public partial class ReflectProxyFixture : TestDatabase
{
    private OpenAiLlmProvider? _llm;

    public FakeLlmServer Llm { get; private set; } = null!;
    public ProxyServer Proxy { get; private set; } = null!;
    internal LlmUsageWriter Usage { get; private set; } = null!;
    public IEmbeddingProvider Embeddings { get; } = EmbeddingProviderFactory.Create(new EmbeddingOptions());
    public TestRole Workspace { get; private set; } = null!;

    /// <summary>What the LLM server answers (default: a synthesis citing the first memory shown).</summary>
    public Func<LlmCall, LlmReply> Answer { get; set; } = DefaultAnswer;

    /// <summary>How long the LLM server waits before answering.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>False: the proxy runs without an LLM.</summary>
    protected virtual bool WithLlm => true;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecuteAsync("SELECT memory.register_model($1, $2, true)", Embeddings.Model, Embeddings.Dimension);
        Llm = new FakeLlmServer(async (call, ct) =>
        {
            if (Delay > TimeSpan.Zero) await Task.Delay(Delay, ct);
            return Answer(call);
        });
        Usage = new LlmUsageWriter(Admin, NullLogger<LlmUsageWriter>.Instance);
        await Usage.StartAsync(CancellationToken.None);
        if (WithLlm)
            _llm = new OpenAiLlmProvider(new OpenAiLlmOptions { BaseUrl = Llm.BaseUrl, Model = "fake-reflector", MaxRetries = 2, RetryBaseDelaySeconds = 0.01, TimeoutSeconds = 20 });
        Proxy = new ProxyServer(new ProxyOptions { Port = 0, Upstream = { Host = "127.0.0.1", Port = Server.Port, TlsMode = UpstreamTlsMode.Disable } },
            Embeddings, NullLoggerFactory.Instance, _llm, Usage);
        await Proxy.StartAsync(CancellationToken.None);
        Workspace = await CreateWorkspaceAsync("reflector");
    }

    public override async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Usage.StopAsync(CancellationToken.None);
        Usage.Dispose();
        _llm?.Dispose();
        await Llm.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>A connection through the proxy as the workspace.</summary>
    public async Task<NpgsqlConnection> OpenAsync(string extra = "")
    {
        var connection = new NpgsqlConnection(string.Create(CultureInfo.InvariantCulture,
            $"Host=127.0.0.1;Port={Proxy.LocalEndPoint.Port};Username={Workspace.Name};Password={Workspace.Password};Database={Name};Pooling=false;{extra}"));
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Runs psql (simple protocol) through the proxy as the workspace; returns (exit code, stdout, stderr).</summary>
    public async Task<(int ExitCode, string Out, string Error)> PsqlAsync(string script)
    {
        var start = new ProcessStartInfo(Server.Binaries.Psql) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8 };
        foreach (var arg in new[] { "-X", "-At", "-h", "127.0.0.1", "-p", Proxy.LocalEndPoint.Port.ToString(CultureInfo.InvariantCulture), "-U", Workspace.Name, "-d", Name, "-f", "-" })
            start.ArgumentList.Add(arg);
        start.Environment["PGPASSWORD"] = Workspace.Password;
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(script);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    [GeneratedRegex(@"^\[(\d+)\] \([^)]*\) (.*)$", RegexOptions.Multiline)]
    private static partial Regex MemoryLine();

    /// <summary>The memories the prompt listed, by number.</summary>
    public static Dictionary<string, int> MemoriesIn(LlmCall call) =>
        MemoryLine().Matches(call.LastUser).ToDictionary(m => m.Groups[2].Value.Trim(), m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    /// <summary>An answer citing the memory that contains <paramref name="needle"/> (or the first one).</summary>
    public static LlmReply Cite(LlmCall call, string needle, string answer, int promptTokens = 300, int completionTokens = 25)
    {
        var memories = MemoriesIn(call);
        var number = memories.FirstOrDefault(m => m.Key.Contains(needle, StringComparison.Ordinal)).Value;
        if (number == 0) number = 1;
        return LlmReply.Json(new JsonObject
        {
            ["answer"] = $"{answer} [{number.ToString(CultureInfo.InvariantCulture)}]",
            ["cited"] = new JsonArray(number),
        }, promptTokens, completionTokens);
    }

    private static LlmReply DefaultAnswer(LlmCall call) => Cite(call, "", "From memory.");
}

/// <summary>The same proxy without an LLM.</summary>
public sealed class NoLlmProxyFixture : ReflectProxyFixture
{
    protected override bool WithLlm => false;
}
