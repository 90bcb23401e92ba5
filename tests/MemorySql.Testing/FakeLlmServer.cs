using System.Collections.Concurrent;
using System.Net;
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
public sealed record LlmReply(int Status, string Body, IReadOnlyDictionary<string, string>? Headers = null) : IFakeHttpReply
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
public sealed class FakeLlmServer(Func<LlmCall, CancellationToken, Task<LlmReply>> script)
    : FakeHttpServer<LlmCall, LlmReply>(script)
{
    public FakeLlmServer(Func<LlmCall, LlmReply> script) : this((c, _) => Task.FromResult(script(c))) { }

    public ConcurrentQueue<LlmCall> Calls => Received;

    protected override LlmCall Parse(int number, HttpListenerRequest request, string body, TimeSpan arrivedAt)
    {
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
        return new LlmCall(number, request.Url!.PathAndQuery, request.Headers["Authorization"], request.Headers["api-key"], json, arrivedAt);
    }
}
