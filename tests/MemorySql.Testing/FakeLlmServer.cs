using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MemorySql.Testing;

/// <summary>What the fake server saw of one chat completion request.</summary>
public sealed record LlmCall(int Number, string PathAndQuery, string? Authorization, string? ApiKey, JsonElement Body, TimeSpan ArrivedAt)
{
    public string? Model => Body.TryGetProperty("model", out var m) ? m.GetString() : null;

    /// <summary>(role, content) of every message, in order.</summary>
    public IReadOnlyList<(string Role, string Content)> Messages =>
        Body.TryGetProperty("messages", out var ms)
            ? [.. ms.EnumerateArray().Select(m => (m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!))]
            : [];

    /// <summary>The text of every message joined (for "does the prompt mention …" checks).</summary>
    public string Prompt => string.Join("\n", Messages.Select(m => m.Content));

    /// <summary>The last user message.</summary>
    public string LastUser => Messages.LastOrDefault(m => m.Role == "user").Content ?? "";

    /// <summary>json_schema, json_object, or null when no response_format was sent.</summary>
    public string? ResponseFormat => Body.TryGetProperty("response_format", out var f) ? f.GetProperty("type").GetString() : null;

    /// <summary>The schema name sent with json_schema ("memorysql_&lt;purpose&gt;"), or null.</summary>
    public string? SchemaName => Body.TryGetProperty("response_format", out var f) && f.TryGetProperty("json_schema", out var s) ? s.GetProperty("name").GetString() : null;

    public bool? Strict => Body.TryGetProperty("response_format", out var f) && f.TryGetProperty("json_schema", out var s) && s.TryGetProperty("strict", out var st)
        ? st.GetBoolean() : null;

    public bool Has(string field) => Body.TryGetProperty(field, out _);
}

/// <summary>What the script answers.</summary>
public sealed record LlmReply(int Status, string Body, IReadOnlyDictionary<string, string>? Headers = null)
{
    /// <summary>A chat completion whose message content is <paramref name="content"/>, with the usage the test chooses.</summary>
    public static LlmReply Chat(string content, int promptTokens = 100, int completionTokens = 20, string finishReason = "stop", string? model = null) =>
        new(200, new JsonObject
        {
            ["id"] = "chatcmpl-test",
            ["object"] = "chat.completion",
            ["model"] = model ?? "fake-llm",
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content },
                ["finish_reason"] = finishReason,
            }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completionTokens, ["total_tokens"] = promptTokens + completionTokens },
        }.ToJsonString());

    /// <summary>A chat completion answering with this JSON value.</summary>
    public static LlmReply Json(JsonNode value, int promptTokens = 100, int completionTokens = 20) => Chat(value.ToJsonString(), promptTokens, completionTokens);

    public static LlmReply Error(int status, string message, IReadOnlyDictionary<string, string>? headers = null) =>
        new(status, new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = "test_error" } }.ToJsonString(), headers);
}

/// <summary>
/// A real HTTP server (HttpListener on 127.0.0.1) speaking OpenAI's /v1/chat/completions as a test script tells
/// it: deterministic answers, slow ones, errors, rate limits, invalid JSON. The client under test is the real
/// provider. Counts requests and the most it had in flight at once.
/// </summary>
public sealed class FakeLlmServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<LlmCall, CancellationToken, Task<LlmReply>> _script;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task _loop;
    private int _requestCount;
    private int _inFlight;
    private int _maxInFlight;

    public FakeLlmServer(Func<LlmCall, CancellationToken, Task<LlmReply>> script)
    {
        _script = script;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public FakeLlmServer(Func<LlmCall, LlmReply> script) : this((c, _) => Task.FromResult(script(c))) { }

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/v1";
    public int RequestCount => Volatile.Read(ref _requestCount);
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);
    public ConcurrentQueue<LlmCall> Calls { get; } = new();

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException || _stopping.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var inFlight = Interlocked.Increment(ref _inFlight);
        UpdateMax(inFlight);
        try
        {
            var number = Interlocked.Increment(ref _requestCount);
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                body = await reader.ReadToEndAsync();
            JsonElement json;
            try
            {
                using var document = JsonDocument.Parse(body);
                json = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                json = JsonDocument.Parse("{}").RootElement.Clone();
            }
            var call = new LlmCall(number, context.Request.Url!.PathAndQuery, context.Request.Headers["Authorization"], context.Request.Headers["api-key"],
                json, _clock.Elapsed);
            Calls.Enqueue(call);
            LlmReply reply;
            try
            {
                reply = await _script(call, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                context.Response.Abort();
                return;
            }
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
                context.Response.Headers[name] = value;
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client gave up (timeout, cancellation) or the server is stopping.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private void UpdateMax(int value)
    {
        var current = Volatile.Read(ref _maxInFlight);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref _maxInFlight, value, current);
            if (seen == current) return;
            current = seen;
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
        {
        }
        _stopping.Dispose();
    }
}
