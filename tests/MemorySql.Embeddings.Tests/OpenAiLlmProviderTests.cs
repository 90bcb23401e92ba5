using System.Text.Json;
using System.Text.Json.Nodes;
using MemorySql.Embeddings.Llm;
using MemorySql.Testing;

namespace MemorySql.Embeddings.Tests;

/// <summary>The real OpenAI-compatible chat provider against a scripted local server.</summary>
public sealed class OpenAiLlmProviderTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(20);

    private static readonly JsonElement AnswerSchema = JsonDocument.Parse("""
        {
          "type": "object",
          "properties": {
            "answer": { "type": "string" },
            "cited": { "type": "array", "items": { "type": "integer", "enum": [1, 2] } }
          },
          "required": ["answer", "cited"],
          "additionalProperties": false
        }
        """).RootElement.Clone();

    private static OpenAiLlmProvider Provider(FakeLlmServer server, Action<OpenAiLlmOptions>? configure = null)
    {
        var options = new OpenAiLlmOptions
        {
            BaseUrl = server.BaseUrl,
            Model = "test-chat",
            ApiKey = "sk-test",
            RetryBaseDelaySeconds = 0.01,
            RetryMaxDelaySeconds = 5,
            TimeoutSeconds = 10,
        };
        configure?.Invoke(options);
        return new OpenAiLlmProvider(options);
    }

    private static LlmRequest Ask(JsonElement? schema = null) =>
        new("reflect", [LlmMessage.System("You answer from memories."), LlmMessage.User("Where does Dana sit?")], schema);

    private static readonly string GoodAnswer = """{"answer": "By the window [1].", "cited": [1]}""";

    [Fact]
    public async Task Complete_WithASchema_SendsJsonSchemaStrict_AndReturnsTheValidatedJsonAndUsage()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Chat(GoodAnswer, 120, 15));
        using var provider = Provider(server);
        var result = await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);

        Assert.Equal("By the window [1].", result.Json!.Value.GetProperty("answer").GetString());
        Assert.Equal(new LlmUsage(120, 15), result.Usage);
        Assert.Equal("test-chat", result.Model);
        var call = Assert.Single(server.Calls);
        Assert.Equal("/v1/chat/completions", call.PathAndQuery);
        Assert.Equal("Bearer sk-test", call.Authorization);
        Assert.Equal("test-chat", call.Model);
        Assert.Equal("json_schema", call.ResponseFormat);
        Assert.Equal("memorysql_reflect", call.SchemaName);
        Assert.True(call.Strict);
        Assert.Equal(0, call.Body.GetProperty("temperature").GetDouble());
        Assert.Equal(1024, call.Body.GetProperty("max_tokens").GetInt32());
        // The schema is in the instructions too, for servers that ignore response_format.
        Assert.Equal("system", call.Messages[0].Role);
        Assert.Contains("\"cited\"", call.Messages[0].Content, StringComparison.Ordinal);
        Assert.Contains("You answer from memories.", call.Messages[0].Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_AzureKeyHeader_AndQueryStringAreKept()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Chat("hello"));
        using var provider = Provider(server, o =>
        {
            o.BaseUrl = server.BaseUrl.Replace("/v1", "/openai/deployments/chat", StringComparison.Ordinal) + "?api-version=2024-10-21";
            o.ApiKeyHeader = "api-key";
        });
        await provider.CompleteAsync(Ask(), CancellationToken.None);
        var call = Assert.Single(server.Calls);
        Assert.Equal("/openai/deployments/chat/chat/completions?api-version=2024-10-21", call.PathAndQuery);
        Assert.Equal("sk-test", call.ApiKey);
        Assert.Null(call.Authorization);
    }

    [Fact]
    public async Task Complete_FreeText_ReturnsTheAnswerWithoutReasoning()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Chat("<think>hmm</think>\nDana sits by the window."));
        using var provider = Provider(server);
        var result = await provider.CompleteAsync(Ask(), CancellationToken.None);
        Assert.Equal("Dana sits by the window.", result.Content);
        Assert.Null(result.Json);
        Assert.Null(Assert.Single(server.Calls).ResponseFormat);
    }

    [Fact]
    public async Task Complete_JsonInProseOrFence_IsExtracted_WithoutARepair()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Chat("Sure, here it is:\n```json\n" + GoodAnswer + "\n```"));
        using var provider = Provider(server);
        var result = await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);
        Assert.Equal(1, result.Json!.Value.GetProperty("cited")[0].GetInt32());
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Complete_InvalidJsonThenValid_RepairsOnce_ShowingTheErrors_AndSumsTheTokens()
    {
        await using var server = new FakeLlmServer(c => c.Number == 1
            ? LlmReply.Chat("""{"answer": "By the window", "cited": [7]}""", 100, 10)
            : LlmReply.Chat(GoodAnswer, 130, 12));
        using var provider = Provider(server);
        var result = await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);

        Assert.Equal(new LlmUsage(230, 22), result.Usage);
        var calls = server.Calls.ToArray();
        Assert.Equal(2, calls.Length);
        Assert.Equal("assistant", calls[1].Messages[^2].Role);
        Assert.Contains("\"cited\": [7]", calls[1].Messages[^2].Content, StringComparison.Ordinal);
        Assert.Contains("$.cited[0]: 7 is not one of 1, 2", calls[1].LastUser, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_InvalidTwice_FailsVisibly_NotTransient_WithTheTokensSpent()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Chat("I think Dana sits by the window.", 50, 9));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Equal(new LlmUsage(100, 18), error.Usage);
        Assert.Contains("did not return valid JSON for reflect", error.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, server.RequestCount);
    }

    [Fact]
    public async Task Complete_CutOffAnswer_SaysToRaiseMaxTokens()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Chat("{\"answer\": \"By the wi", finishReason: "length"));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None));
        Assert.Contains("Llm:OpenAI:MaxTokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_ServerErrors_AreRetried_AndOnlyAnswersCountTokens()
    {
        await using var server = new FakeLlmServer(c => c.Number <= 2 ? LlmReply.Error(502, "bad gateway") : LlmReply.Chat(GoodAnswer, 80, 8));
        using var provider = Provider(server);
        var result = await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);
        Assert.Equal(new LlmUsage(80, 8), result.Usage);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Complete_PersistentServerErrors_FailTransientlyAfterRetries()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Error(500, "model crashed"));
        using var provider = Provider(server, o => o.MaxRetries = 2);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None));
        Assert.True(error.IsTransient);
        Assert.Contains("failed after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Contains("model crashed", error.Message, StringComparison.Ordinal);
        Assert.Equal(default, error.Usage);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Complete_RateLimited_WaitsForRetryAfter_ThenSucceeds()
    {
        await using var server = new FakeLlmServer(c => c.Number == 1
            ? LlmReply.Error(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "1" })
            : LlmReply.Chat(GoodAnswer));
        using var provider = Provider(server);
        await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);
        var calls = server.Calls.ToArray();
        Assert.Equal(2, calls.Length);
        Assert.True(calls[1].ArrivedAt - calls[0].ArrivedAt >= TimeSpan.FromSeconds(0.95),
            $"retried after {(calls[1].ArrivedAt - calls[0].ArrivedAt).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Complete_RetryAfterBeyondTheMaximum_FailsTransientlyAtOnce()
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Error(429, "daily quota", new Dictionary<string, string> { ["Retry-After"] = "3600" }));
        using var provider = Provider(server, o => o.RetryMaxDelaySeconds = 5);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(), CancellationToken.None).WaitAsync(Prompt));
        Assert.True(error.IsTransient);
        Assert.Contains("retry after 3600 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("Llm:OpenAI:RetryMaxDelaySeconds", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Complete_Timeout_IsRetried_ThenFailsNamingTheKey()
    {
        await using var server = new FakeLlmServer(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return LlmReply.Chat(GoodAnswer);
        });
        using var provider = Provider(server, o => { o.TimeoutSeconds = 0.5; o.MaxRetries = 1; });
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None).WaitAsync(Prompt));
        Assert.True(error.IsTransient);
        Assert.Contains("Llm:OpenAI:TimeoutSeconds", error.Message, StringComparison.Ordinal);
        Assert.Contains("failed after 2 attempts", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(401, "Incorrect API key provided", "Llm:OpenAI:ApiKey")]
    [InlineData(404, "The model `nope` does not exist", "Llm:OpenAI:BaseUrl")]
    [InlineData(400, "messages: too long for the context window", "too long")]
    public async Task Complete_ClientErrors_FailAtOnce_WithTheServersMessage(int status, string message, string expected)
    {
        await using var server = new FakeLlmServer(_ => LlmReply.Error(status, message));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-test", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Complete_ServerWithoutJsonSchema_StepsDownToJsonObject_ThenPrompt_AndRemembers()
    {
        await using var server = new FakeLlmServer(c => c.ResponseFormat switch
        {
            "json_schema" => LlmReply.Error(400, "response_format json_schema is not supported by this model"),
            "json_object" => LlmReply.Error(400, "Invalid value for response_format: json_object"),
            _ => LlmReply.Chat(GoodAnswer),
        });
        using var provider = Provider(server);
        await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);
        Assert.Equal(StructuredOutputMode.Prompt, provider.CurrentStructuredOutput);
        await provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None);
        Assert.Equal(new string?[] { "json_schema", "json_object", null, null }, server.Calls.Select(c => c.ResponseFormat).ToArray());
    }

    [Fact]
    public async Task Complete_ModelWantingMaxCompletionTokens_AndNoTemperature_IsServedAnyway()
    {
        await using var server = new FakeLlmServer(c =>
            c.Has("max_tokens") ? LlmReply.Error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.")
            : c.Has("temperature") ? LlmReply.Error(400, "Unsupported value: 'temperature' does not support 0 with this model.")
            : LlmReply.Chat("ok"));
        using var provider = Provider(server);
        Assert.Equal("ok", (await provider.CompleteAsync(Ask(), CancellationToken.None)).Content);
        var last = server.Calls.Last();
        Assert.Equal(1024, last.Body.GetProperty("max_completion_tokens").GetInt32());
        Assert.False(last.Has("temperature"));
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Complete_Refusal_IsAnInvalidAnswer()
    {
        await using var server = new FakeLlmServer(_ => new LlmReply(200, new JsonObject
        {
            ["choices"] = new JsonArray(new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = null, ["refusal"] = "I can't help with that." }, ["finish_reason"] = "stop" }),
        }.ToJsonString()));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(AnswerSchema), CancellationToken.None));
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_MalformedResponse_FailsClearly()
    {
        await using var server = new FakeLlmServer(_ => new LlmReply(200, "<html>gateway</html>"));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<LlmException>(() => provider.CompleteAsync(Ask(), CancellationToken.None));
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);
        Assert.Contains("<html>gateway</html>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_BoundsRequestsInFlight()
    {
        await using var server = new FakeLlmServer(async (_, ct) =>
        {
            await Task.Delay(100, ct);
            return LlmReply.Chat("ok");
        });
        using var provider = Provider(server, o => o.MaxConcurrency = 2);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => provider.CompleteAsync(Ask(), CancellationToken.None)));
        Assert.Equal(8, server.RequestCount);
        Assert.InRange(server.MaxInFlight, 1, 2);
    }

    [Fact]
    public async Task Complete_Cancelled_ThrowsOperationCanceled()
    {
        var arrived = new TaskCompletionSource();
        await using var server = new FakeLlmServer(async (_, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromMinutes(1), ct);
            return LlmReply.Chat("late");
        });
        using var provider = Provider(server);
        using var cts = new CancellationTokenSource();
        var call = provider.CompleteAsync(Ask(), cts.Token);
        await arrived.Task.WaitAsync(Prompt);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Prompt));
    }

    [Fact]
    public void StrictMode_OnlyForClosedSchemasWithEveryPropertyRequired()
    {
        Assert.True(OpenAiLlmProvider.IsStrictCompatible(AnswerSchema));
        Assert.False(OpenAiLlmProvider.IsStrictCompatible(JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"string"}},"required":[]}""").RootElement));
        Assert.False(OpenAiLlmProvider.IsStrictCompatible(JsonDocument.Parse("""{"type":"array","items":{"type":"string"},"maxItems":3}""").RootElement));
    }
}
