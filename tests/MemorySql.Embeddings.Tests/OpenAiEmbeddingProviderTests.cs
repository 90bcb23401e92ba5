using System.Globalization;

namespace MemorySql.Embeddings.Tests;

public sealed class OpenAiEmbeddingProviderTests
{
    private const int Dim = 8;
    // Generous upper bound for "returns promptly": the scripted server would otherwise hold the call for a minute.
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(15);

    private static OpenAiEmbeddingProvider Provider(FakeEmbeddingServer server, Action<OpenAiEmbeddingOptions>? configure = null)
    {
        var options = new OpenAiEmbeddingOptions
        {
            BaseUrl = server.BaseUrl,
            Model = "test-embed",
            Dimensions = Dim,
            ApiKey = "sk-test",
            RetryBaseDelaySeconds = 0.01,
            RetryMaxDelaySeconds = 5,
            TimeoutSeconds = 10,
        };
        configure?.Invoke(options);
        return new OpenAiEmbeddingProvider(options);
    }

    private static string[] Texts(int count) =>
        Enumerable.Range(0, count).Select(i => "text " + i.ToString(CultureInfo.InvariantCulture)).ToArray();

    private static void AssertVectorsFor(string[] texts, float[][] vectors)
    {
        Assert.Equal(texts.Length, vectors.Length);
        for (var i = 0; i < texts.Length; i++)
        {
            var expected = FakeEmbeddingServer.UnitVector(texts[i], Dim);
            Assert.Equal(Dim, vectors[i].Length);
            for (var j = 0; j < Dim; j++) Assert.Equal(expected[j], vectors[i][j], 5);
        }
    }

    [Fact]
    public async Task EmbedAsync_ReturnsUnitVectorsInInputOrder()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server);
        var texts = Texts(5);
        AssertVectorsFor(texts, await provider.EmbedAsync(texts, CancellationToken.None));
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_SendsModelInputDimensionsAndBearerKey()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server);
        await provider.EmbedAsync(["a", "b"], CancellationToken.None);
        var request = Assert.Single(server.Requests);
        Assert.Equal("/v1/embeddings", request.PathAndQuery);
        Assert.Equal("test-embed", request.Model);
        Assert.Equal(["a", "b"], request.Input);
        Assert.Equal(Dim, request.Dimensions);
        Assert.Equal("float", request.EncodingFormat);
        Assert.Equal("Bearer sk-test", request.Authorization);
        Assert.Null(request.ApiKey);
    }

    [Fact]
    public async Task EmbedAsync_AzureStyle_SendsApiKeyHeaderAndKeepsQueryString()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server, o =>
        {
            o.BaseUrl = $"http://127.0.0.1:{server.Port}/openai/deployments/emb?api-version=2024-02-01";
            o.ApiKeyHeader = "api-key";
            o.SendDimensions = false;
        });
        await provider.EmbedAsync(["a"], CancellationToken.None);
        var request = Assert.Single(server.Requests);
        Assert.Equal("/openai/deployments/emb/embeddings?api-version=2024-02-01", request.PathAndQuery);
        Assert.Equal("sk-test", request.ApiKey);
        Assert.Null(request.Authorization);
        Assert.Null(request.Dimensions);
    }

    [Fact]
    public async Task EmbedAsync_WithoutApiKey_SendsNoCredentials()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server, o => o.ApiKey = null);
        await provider.EmbedAsync(["a"], CancellationToken.None);
        var request = Assert.Single(server.Requests);
        Assert.Null(request.Authorization);
        Assert.Null(request.ApiKey);
    }

    [Fact]
    public async Task EmbedAsync_OutOfOrderIndexes_AreOrderedByIndex()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim, reverse: true));
        using var provider = Provider(server);
        var texts = Texts(6);
        AssertVectorsFor(texts, await provider.EmbedAsync(texts, CancellationToken.None));
    }

    [Fact]
    public async Task EmbedAsync_BigBatch_IsSplitAndKeepsOrder()
    {
        // Later chunks answer first, in reverse index order: the result must still follow the input.
        await using var server = new FakeEmbeddingServer(async (r, ct) =>
        {
            var chunk = int.Parse(r.Input[0].Split(' ')[1], CultureInfo.InvariantCulture) / 3;
            await Task.Delay(TimeSpan.FromMilliseconds(40 * (4 - chunk)), ct);
            return FakeEmbeddingServer.Embeddings(r, Dim, reverse: true);
        });
        using var provider = Provider(server, o => { o.BatchSize = 3; o.MaxConcurrency = 4; });
        var texts = Texts(10);
        AssertVectorsFor(texts, await provider.EmbedAsync(texts, CancellationToken.None));
        Assert.Equal(4, server.RequestCount);
        Assert.Equal([1, 3, 3, 3], server.Requests.Select(r => r.Input.Length).Order());
        Assert.Equal(texts.Order(StringComparer.Ordinal), server.Requests.SelectMany(r => r.Input).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task EmbedAsync_ServerErrors_AreRetriedUntilSuccess()
    {
        await using var server = new FakeEmbeddingServer(r => r.Number <= 2
            ? FakeEmbeddingServer.Error(500, "the GPU caught fire")
            : FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server, o => o.MaxRetries = 3);
        var texts = Texts(2);
        AssertVectorsFor(texts, await provider.EmbedAsync(texts, CancellationToken.None));
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_PersistentServerErrors_FailTransientlyAfterRetries()
    {
        await using var server = new FakeEmbeddingServer(_ => FakeEmbeddingServer.Error(503, "overloaded, try later"));
        using var provider = Provider(server, o => o.MaxRetries = 2);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None));
        Assert.True(error.IsTransient);
        Assert.Equal("test-embed", error.Model);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 503", error.Message, StringComparison.Ordinal);
        Assert.Contains("overloaded, try later", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_RateLimited_WaitsForRetryAfterThenSucceeds()
    {
        await using var server = new FakeEmbeddingServer(r => r.Number == 1
            ? FakeEmbeddingServer.Error(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "1" })
            : FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server);
        var texts = Texts(1);
        AssertVectorsFor(texts, await provider.EmbedAsync(texts, CancellationToken.None));
        var requests = server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        // Honouring Retry-After: the retry did not come before the second the server asked for.
        Assert.True(requests[1].ArrivedAt - requests[0].ArrivedAt >= TimeSpan.FromSeconds(0.95),
            $"retried after {(requests[1].ArrivedAt - requests[0].ArrivedAt).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task EmbedAsync_RetryAfterBeyondMaximum_FailsTransientlyWithoutWaiting()
    {
        await using var server = new FakeEmbeddingServer(_ =>
            FakeEmbeddingServer.Error(429, "quota exceeded", new Dictionary<string, string> { ["Retry-After"] = "600" }));
        using var provider = Provider(server, o => o.RetryMaxDelaySeconds = 5);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None).AsTask().WaitAsync(Prompt));
        Assert.True(error.IsTransient);
        Assert.Contains("retry after 600 s", error.Message, StringComparison.Ordinal);
        Assert.Contains("quota exceeded", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Theory]
    [InlineData(400, "input is too long for this model", "input is too long")]
    [InlineData(401, "Incorrect API key provided", "Embeddings:OpenAI:ApiKey")]
    [InlineData(404, "model not found", "Embeddings:OpenAI:BaseUrl")]
    [InlineData(422, "unprocessable", "unprocessable")]
    public async Task EmbedAsync_ClientErrors_AreNotRetriedAndCarryTheServerMessage(int status, string message, string expected)
    {
        await using var server = new FakeEmbeddingServer(_ => FakeEmbeddingServer.Error(status, message));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Contains($"HTTP {status}", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-test", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_PlainStringErrorBody_IsShown()
    {
        await using var server = new FakeEmbeddingServer(_ => new FakeResponse(400, """{"error":"model \"nope\" not found, try pulling it first"}"""));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None));
        Assert.Contains("try pulling it first", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_MalformedJson_FailsClearlyWithoutRetrying()
    {
        await using var server = new FakeEmbeddingServer(_ => new FakeResponse(200, "<html>502 Bad Gateway</html>"));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Contains("not valid JSON", error.Message, StringComparison.Ordinal);
        Assert.Contains("<html>502 Bad Gateway</html>", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_JsonWithoutData_FailsClearly()
    {
        await using var server = new FakeEmbeddingServer(_ => new FakeResponse(200, """{"object":"list"}"""));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None));
        Assert.Contains("no \"data\" array", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_WrongDimensions_FailsNamingBothLengths()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim, overrideLength: 5));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a", "b"], CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Contains("returned 5-dimensional vectors but 8 are expected", error.Message, StringComparison.Ordinal);
        Assert.Contains("Embeddings:OpenAI:Dimensions", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_MissingEmbeddings_FailsInsteadOfReturningPartialBatch()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r with { Input = r.Input[..^1] }, Dim));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a", "b", "c"], CancellationToken.None));
        Assert.Contains("2 embeddings for 3 inputs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_DuplicateIndex_Fails()
    {
        await using var server = new FakeEmbeddingServer(_ => new FakeResponse(200,
            """{"data":[{"index":0,"embedding":[1,0,0,0,0,0,0,0]},{"index":0,"embedding":[0,1,0,0,0,0,0,0]}]}"""));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a", "b"], CancellationToken.None));
        Assert.Contains("two embeddings with index 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_ZeroVector_Fails()
    {
        await using var server = new FakeEmbeddingServer(_ => new FakeResponse(200, """{"data":[{"index":0,"embedding":[0,0,0,0,0,0,0,0]}]}"""));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None));
        Assert.Contains("all zeros", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_OneFailingChunk_FailsTheWholeCall()
    {
        await using var server = new FakeEmbeddingServer(r => r.Input.Contains("text 4")
            ? FakeEmbeddingServer.Error(400, "text 4 is bad")
            : FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server, o => o.BatchSize = 2);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(Texts(8), CancellationToken.None));
        Assert.Contains("text 4 is bad", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_SlowResponse_TimesOutAndIsRetried()
    {
        await using var server = new FakeEmbeddingServer(async (r, ct) =>
        {
            if (r.Number == 1) await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return FakeEmbeddingServer.Embeddings(r, Dim);
        });
        // Long enough for a loaded machine to answer the retry, far shorter than the first request's 30 s.
        using var provider = Provider(server, o => o.TimeoutSeconds = 2);
        var texts = Texts(2);
        AssertVectorsFor(texts, await provider.EmbedAsync(texts, CancellationToken.None).AsTask().WaitAsync(Prompt));
        Assert.True(server.RequestCount >= 2, "the slow first request was retried");
    }

    [Fact]
    public async Task EmbedAsync_AlwaysSlow_FailsTransientlyNamingTheTimeout()
    {
        await using var server = new FakeEmbeddingServer(async (r, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return FakeEmbeddingServer.Embeddings(r, Dim);
        });
        using var provider = Provider(server, o => { o.TimeoutSeconds = 0.5; o.MaxRetries = 1; });
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None).AsTask().WaitAsync(Prompt));
        Assert.True(error.IsTransient);
        Assert.Contains("TimeoutSeconds", error.Message, StringComparison.Ordinal);
        // Counted by the client: on a loaded machine an abandoned request may never reach the test server's handler.
        Assert.Contains("failed after 2 attempts", error.Message, StringComparison.Ordinal);
        Assert.InRange(server.RequestCount, 1, 2);
    }

    [Fact]
    public async Task EmbedAsync_ConnectionRefused_FailsTransientlyAfterRetries()
    {
        int port;
        await using (var closed = new FakeEmbeddingServer(_ => new FakeResponse(200, "{}"))) port = closed.Port;
        using var provider = new OpenAiEmbeddingProvider(new OpenAiEmbeddingOptions
        {
            BaseUrl = $"http://127.0.0.1:{port}/v1", Model = "m", Dimensions = Dim, MaxRetries = 2, RetryBaseDelaySeconds = 0.01,
        });
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["a"], CancellationToken.None).AsTask().WaitAsync(Prompt));
        Assert.True(error.IsTransient);
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmbedAsync_CancelledWhileWaitingForServer_ThrowsPromptly()
    {
        var arrived = new TaskCompletionSource();
        await using var server = new FakeEmbeddingServer(async (r, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromMinutes(1), ct);
            return FakeEmbeddingServer.Embeddings(r, Dim);
        });
        using var provider = Provider(server, o => o.TimeoutSeconds = 120);
        using var cts = new CancellationTokenSource();
        var call = provider.EmbedAsync(["a"], cts.Token).AsTask();
        await arrived.Task.WaitAsync(Prompt);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Prompt));
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_CancelledDuringBackoff_ThrowsPromptly()
    {
        await using var server = new FakeEmbeddingServer(_ => FakeEmbeddingServer.Error(500, "down"));
        using var provider = Provider(server, o => { o.RetryBaseDelaySeconds = 60; o.RetryMaxDelaySeconds = 120; o.MaxRetries = 5; });
        using var cts = new CancellationTokenSource();
        var call = provider.EmbedAsync(["a"], cts.Token).AsTask();
        while (server.RequestCount == 0) await Task.Delay(10);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Prompt));
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_ConcurrencyBound_HoldsAcrossChunksAndCallers()
    {
        await using var server = new FakeEmbeddingServer(async (r, ct) =>
        {
            // Long enough that two requests overlap at the server even on a loaded machine.
            await Task.Delay(200, ct);
            return FakeEmbeddingServer.Embeddings(r, Dim);
        });
        using var provider = Provider(server, o => { o.BatchSize = 1; o.MaxConcurrency = 2; });
        var calls = Enumerable.Range(0, 3).Select(c => provider.EmbedAsync(Texts(6).Select(t => $"{t} caller {c}").ToArray(), CancellationToken.None).AsTask()).ToArray();
        var results = await Task.WhenAll(calls);
        Assert.Equal(18, server.RequestCount);
        Assert.Equal(2, server.MaxInFlight);
        Assert.All(results, r => Assert.Equal(6, r.Length));
    }

    [Fact]
    public async Task EmbedAsync_EmptyBatch_SendsNothing()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server);
        Assert.Empty(await provider.EmbedAsync([], CancellationToken.None));
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task EmbedAsync_WhitespaceText_FailsBeforeAnyRequest()
    {
        await using var server = new FakeEmbeddingServer(r => FakeEmbeddingServer.Embeddings(r, Dim));
        using var provider = Provider(server);
        var error = await Assert.ThrowsAsync<EmbeddingException>(async () => await provider.EmbedAsync(["ok", " "], CancellationToken.None));
        Assert.False(error.IsTransient);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public void Model_DefaultsToTheRequestModelAndCanBeRenamed()
    {
        using var plain = new OpenAiEmbeddingProvider(new OpenAiEmbeddingOptions { Model = "nomic-embed-text:latest" });
        Assert.Equal("nomic-embed-text:latest", plain.Model);
        Assert.Equal(768, plain.Dimension);
        using var renamed = new OpenAiEmbeddingProvider(new OpenAiEmbeddingOptions { Model = "text-embedding-3-small", Dimensions = 512, ModelName = "te3-small-512" });
        Assert.Equal("te3-small-512", renamed.Model);
        Assert.Equal(512, renamed.Dimension);
    }
}
