using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using MemorySql.Testing;

namespace MemorySql.Embeddings.Tests;

/// <summary>What the server saw of one request.</summary>
internal sealed record FakeRequest(int Number, string PathAndQuery, string? Authorization, string? ApiKey,
    string? Model, string[] Input, int? Dimensions, string? EncodingFormat, TimeSpan ArrivedAt);

/// <summary>What the script answers.</summary>
internal sealed record FakeResponse(int Status, string Body, IReadOnlyDictionary<string, string>? Headers = null) : IFakeHttpReply;

/// <summary>
/// A real HTTP server (HttpListener on 127.0.0.1) that speaks the OpenAI embeddings API as a script
/// tells it: correct answers, slow ones, errors, rate limits, garbage. Counts requests and the most
/// requests it had in flight at once.
/// </summary>
internal sealed class FakeEmbeddingServer(Func<FakeRequest, CancellationToken, Task<FakeResponse>> script)
    : FakeHttpServer<FakeRequest, FakeResponse>(script)
{
    public FakeEmbeddingServer(Func<FakeRequest, FakeResponse> script) : this((r, _) => Task.FromResult(script(r))) { }

    public ConcurrentQueue<FakeRequest> Requests => Received;

    /// <summary>A correct response: one vector per input (not normalised, to show the provider normalises), indexes in the given order.</summary>
    public static FakeResponse Embeddings(FakeRequest request, int dimension, bool reverse = false, int? overrideLength = null)
    {
        var data = new JsonArray();
        var order = Enumerable.Range(0, request.Input.Length);
        if (reverse) order = order.Reverse();
        foreach (var i in order)
        {
            var vector = new JsonArray();
            foreach (var v in RawVector(request.Input[i], overrideLength ?? dimension)) vector.Add(v);
            data.Add(new JsonObject { ["object"] = "embedding", ["index"] = i, ["embedding"] = vector });
        }
        var body = new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["model"] = request.Model,
            ["usage"] = new JsonObject { ["prompt_tokens"] = 1, ["total_tokens"] = 1 },
        };
        return new FakeResponse(200, body.ToJsonString());
    }

    public static FakeResponse Error(int status, string message, IReadOnlyDictionary<string, string>? headers = null) =>
        new(status, new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = "test_error" } }.ToJsonString(), headers);

    /// <summary>The deterministic raw vector the server returns for a text.</summary>
    public static float[] RawVector(string text, int dimension)
    {
        var vector = new float[dimension];
        var h = 2166136261u;
        foreach (var c in text) h = (h ^ c) * 16777619u;
        for (var j = 0; j < dimension; j++)
        {
            h = (h ^ (uint)j) * 16777619u;
            vector[j] = ((h % 2001) - 1000) / 100f;
        }
        return vector;
    }

    /// <summary><see cref="RawVector"/> scaled to unit length: what the provider must return.</summary>
    public static float[] UnitVector(string text, int dimension)
    {
        var vector = RawVector(text, dimension);
        var norm = (float)Math.Sqrt(vector.Sum(v => (double)v * v));
        return vector.Select(v => v / norm).ToArray();
    }

    protected override FakeRequest Parse(int number, HttpListenerRequest request, string body, TimeSpan arrivedAt)
    {
        string? model = null;
        string[] input = [];
        int? dimensions = null;
        string? encoding = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.TryGetProperty("model", out var m)) model = m.GetString();
            if (root.TryGetProperty("input", out var i)) input = i.EnumerateArray().Select(e => e.GetString()!).ToArray();
            if (root.TryGetProperty("dimensions", out var d)) dimensions = d.GetInt32();
            if (root.TryGetProperty("encoding_format", out var f)) encoding = f.GetString();
        }
        catch (JsonException)
        {
            // Recorded with empty fields; the test will notice.
        }
        return new FakeRequest(number, request.Url!.PathAndQuery, request.Headers["Authorization"], request.Headers["api-key"],
            model, input, dimensions, encoding, arrivedAt);
    }
}
