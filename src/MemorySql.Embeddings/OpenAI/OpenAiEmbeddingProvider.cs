using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MemorySql.Embeddings.OpenAI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemorySql.Embeddings;

/// <summary>
/// Embeddings from any OpenAI-compatible <c>/v1/embeddings</c> endpoint. Splits big batches (results
/// ordered by the response's <c>index</c>), retries transient failures with exponential backoff and
/// jitter (honouring 429 Retry-After), bounds requests in flight per provider, checks every vector's
/// length and L2-normalises it. A call either returns every vector or throws: never a partial batch.
/// </summary>
public sealed class OpenAiEmbeddingProvider : IEmbeddingProvider, IDisposable
{
    private const int MaxErrorBodyChars = 500;

    private readonly OpenAiEmbeddingOptions _options;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly SemaphoreSlim _concurrency;
    private readonly TimeSpan _timeout;
    private readonly bool _useApiKeyHeader;
    private readonly string _describe;

    /// <param name="options">Validated settings (see <see cref="EmbeddingProviderFactory"/>).</param>
    /// <param name="logger">Logs retries.</param>
    /// <param name="handler">The HTTP handler to send through (tests, proxies); one with pooled connections when null. Not disposed by the provider.</param>
    public OpenAiEmbeddingProvider(OpenAiEmbeddingOptions options, ILogger<OpenAiEmbeddingProvider>? logger = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = OpenAiOptionsValidator.Validate(options, "Embeddings:OpenAI");
        if (errors.Count > 0) throw new ArgumentException(string.Join(Environment.NewLine, errors), nameof(options));

        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _endpoint = OpenAiOptionsValidator.EmbeddingsEndpoint(options.BaseUrl);
        _timeout = TimeSpan.FromSeconds(options.TimeoutSeconds);
        _concurrency = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _useApiKeyHeader = OpenAiOptionsValidator.UsesApiKeyHeader(options, _endpoint);
        Model = options.ModelName is { Length: > 0 } name ? name : options.Model;
        Dimension = options.Dimensions ?? KnownModels.DimensionOf(options.Model)!.Value;
        _describe = $"{options.Model} at {_endpoint.GetLeftPart(UriPartial.Path)}";

        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = _timeout,
                AutomaticDecompression = DecompressionMethods.All,
            }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = Timeout.InfiniteTimeSpan; // each attempt has its own timeout
    }

    public string Model { get; }
    public int Dimension { get; }

    public async ValueTask<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        EmbeddingInput.Validate(Model, texts);
        var results = new float[texts.Count][];
        if (texts.Count == 0) return results;
        var batchSize = _options.BatchSize;
        if (texts.Count <= batchSize)
        {
            await EmbedChunkWithRetriesAsync(texts, 0, texts.Count, results, cancellationToken);
            return results;
        }

        // Chunks run concurrently (the semaphore bounds them); the first failure cancels the rest.
        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunks = new List<Task>();
        for (var offset = 0; offset < texts.Count; offset += batchSize)
            chunks.Add(RunChunkAsync(texts, offset, Math.Min(batchSize, texts.Count - offset), results, failFast));
        try
        {
            await Task.WhenAll(chunks);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            var failures = chunks.Where(c => c.IsFaulted).SelectMany(c => c.Exception!.InnerExceptions).ToList();
            var cause = failures.FirstOrDefault(e => e is not OperationCanceledException) ?? failures.FirstOrDefault();
            if (cause is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            throw;
        }
        return results;
    }

    private async Task RunChunkAsync(IReadOnlyList<string> texts, int offset, int count, float[][] results, CancellationTokenSource failFast)
    {
        try
        {
            await EmbedChunkWithRetriesAsync(texts, offset, count, results, failFast.Token);
        }
        catch
        {
            await failFast.CancelAsync();
            throw;
        }
    }

    private async Task EmbedChunkWithRetriesAsync(IReadOnlyList<string> texts, int offset, int count, float[][] results, CancellationToken cancellationToken)
    {
        var input = Slice(texts, offset, count);
        for (var attempt = 0; ; attempt++)
        {
            var failure = await TryEmbedChunkAsync(input, offset, results, cancellationToken);
            if (failure is null) return;
            if (attempt >= _options.MaxRetries)
                throw new EmbeddingException(Model,
                    $"embedding provider {_describe} failed after {attempt + 1} attempts: {failure.Message}", isTransient: true, failure.Cause);

            var delay = RetryDelay(attempt, failure.RetryAfter);
            if (delay is null)
                throw new EmbeddingException(Model,
                    $"embedding provider {_describe} is rate limiting and asks to retry after {failure.RetryAfter!.Value.TotalSeconds:F0} s, longer than Embeddings:OpenAI:RetryMaxDelaySeconds ({_options.RetryMaxDelaySeconds:F0} s): {failure.Message}",
                    isTransient: true, failure.Cause);
            _logger.LogWarning("Embedding request to {Endpoint} failed ({Error}); retry {Retry} of {MaxRetries} in {Delay} ms",
                _describe, failure.Message, attempt + 1, _options.MaxRetries, (int)delay.Value.TotalMilliseconds);
            await Task.Delay(delay.Value, cancellationToken);
        }
    }

    /// <summary>One request. Returns null on success, a transient failure to retry, or throws for the rest.</summary>
    private async Task<TransientFailure?> TryEmbedChunkAsync(IReadOnlyList<string> input, int offset, float[][] results, CancellationToken cancellationToken)
    {
        await _concurrency.WaitAsync(cancellationToken);
        try
        {
            using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptTimeout.CancelAfter(_timeout);
            try
            {
                using var request = CreateRequest(input);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptTimeout.Token);
                var body = await response.Content.ReadAsByteArrayAsync(attemptTimeout.Token);
                if (response.IsSuccessStatusCode)
                {
                    var vectors = ParseVectors(body, input.Count);
                    vectors.CopyTo(results, offset);
                    return null;
                }
                return ClassifyError(response, body);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                return new TransientFailure(string.Create(CultureInfo.InvariantCulture,
                    $"no complete response within Embeddings:OpenAI:TimeoutSeconds ({_options.TimeoutSeconds} s)"), e, null);
            }
            catch (HttpRequestException e)
            {
                return new TransientFailure(e.HttpRequestError == HttpRequestError.Unknown ? e.Message : $"{e.HttpRequestError}: {e.Message}", e, null);
            }
            catch (IOException e)
            {
                return new TransientFailure("connection failed while reading the response: " + e.Message, e, null);
            }
        }
        finally
        {
            _concurrency.Release();
        }
    }

    private HttpRequestMessage CreateRequest(IReadOnlyList<string> input)
    {
        var payload = new EmbeddingRequest
        {
            Model = _options.Model,
            Input = input,
            Dimensions = _options.SendDimensions ? _options.Dimensions : null,
        };
        var request = new HttpRequestMessage(HttpMethod.Post, _endpoint)
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(payload, OpenAiJsonContext.Default.EmbeddingRequest)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (!string.IsNullOrEmpty(_options.ApiKey))
        {
            if (_useApiKeyHeader) request.Headers.TryAddWithoutValidation("api-key", _options.ApiKey);
            else request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.ApiKey);
        }
        return request;
    }

    private float[][] ParseVectors(byte[] body, int expected)
    {
        EmbeddingResponse? response;
        try
        {
            response = JsonSerializer.Deserialize(body, OpenAiJsonContext.Default.EmbeddingResponse);
        }
        catch (JsonException e)
        {
            throw Invalid($"the response is not valid JSON ({e.Message}): {Excerpt(body)}", e);
        }
        var data = response?.Data ?? throw Invalid($"the response has no \"data\" array: {Excerpt(body)}");
        if (data.Count != expected)
            throw Invalid(string.Create(CultureInfo.InvariantCulture, $"the response has {data.Count} embeddings for {expected} inputs"));

        var withIndex = data.Count(d => d.Index is not null);
        if (withIndex != 0 && withIndex != data.Count)
            throw Invalid("some embeddings in the response have an \"index\" and some do not");
        var vectors = new float[expected][];
        for (var position = 0; position < data.Count; position++)
        {
            var item = data[position];
            var index = item.Index ?? position;
            if (index < 0 || index >= expected)
                throw Invalid(string.Create(CultureInfo.InvariantCulture, $"the response has an embedding with index {index}, outside 0..{expected - 1}"));
            if (vectors[index] is not null)
                throw Invalid(string.Create(CultureInfo.InvariantCulture, $"the response has two embeddings with index {index}"));
            var vector = item.Embedding ?? throw Invalid(string.Create(CultureInfo.InvariantCulture, $"embedding {index} in the response has no \"embedding\" array"));
            if (vector.Length != Dimension)
                throw Invalid(string.Create(CultureInfo.InvariantCulture,
                    $"the model returned {vector.Length}-dimensional vectors but {Dimension} are expected; set Embeddings:OpenAI:Dimensions to {vector.Length} (and a new ModelName if vectors of the old length are stored) or ask the server for {Dimension}"));
            foreach (var v in vector)
                if (!float.IsFinite(v)) throw Invalid(string.Create(CultureInfo.InvariantCulture, $"embedding {index} contains a non-finite value"));
            if (!VectorMath.TryNormalize(vector))
                throw Invalid(string.Create(CultureInfo.InvariantCulture, $"embedding {index} is all zeros and has no direction"));
            vectors[index] = vector;
        }
        return vectors;
    }

    private EmbeddingException Invalid(string problem, Exception? inner = null) =>
        new(Model, $"embedding provider {_describe} returned an unusable response: {problem}", isTransient: false, inner);

    private TransientFailure ClassifyError(HttpResponseMessage response, byte[] body)
    {
        var status = (int)response.StatusCode;
        var detail = string.Create(CultureInfo.InvariantCulture, $"HTTP {status} {response.ReasonPhrase}: {ErrorMessage(body)}");
        if (status == 429)
            return new TransientFailure(detail, null, RetryAfter(response));
        if (status is 408 or >= 500)
            return new TransientFailure(detail, null, status == 503 ? RetryAfter(response) : null);

        var hint = status switch
        {
            401 or 403 => " (check Embeddings:OpenAI:ApiKey" + (_useApiKeyHeader ? "" : "; Azure OpenAI needs Embeddings:OpenAI:ApiKeyHeader = api-key") + ")",
            404 => " (check Embeddings:OpenAI:BaseUrl — it usually ends in /v1 — and Embeddings:OpenAI:Model)",
            _ => "",
        };
        throw new EmbeddingException(Model, $"embedding provider {_describe} rejected the request: {detail}{hint}", isTransient: false);
    }

    private TimeSpan? RetryDelay(int attempt, TimeSpan? retryAfter)
    {
        var max = TimeSpan.FromSeconds(_options.RetryMaxDelaySeconds);
        if (retryAfter is { } asked)
        {
            if (asked > max) return null;
            // A little jitter on top, never below what the server asked for.
            return asked + TimeSpan.FromMilliseconds(asked.TotalMilliseconds * 0.1 * Jitter.NextDouble());
        }
        var ceiling = Math.Min(_options.RetryMaxDelaySeconds, _options.RetryBaseDelaySeconds * Math.Pow(2, attempt));
        return TimeSpan.FromSeconds(ceiling / 2 + ceiling / 2 * Jitter.NextDouble());
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    /// <summary>The server's error text: OpenAI's {"error":{"message"}}, Ollama/TEI's {"error":"…"}, FastAPI's {"detail":…}, else the body.</summary>
    private static string ErrorMessage(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var error))
                {
                    if (error.ValueKind == JsonValueKind.String) return Truncate(error.GetString()!);
                    if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
                        return Truncate(message.GetString()!);
                }
                if (root.TryGetProperty("detail", out var detail))
                    return Truncate(detail.ValueKind == JsonValueKind.String ? detail.GetString()! : detail.GetRawText());
                if (root.TryGetProperty("message", out var plain) && plain.ValueKind == JsonValueKind.String)
                    return Truncate(plain.GetString()!);
            }
        }
        catch (JsonException)
        {
            // Not JSON: show the text itself.
        }
        return Excerpt(body);
    }

    private static string Excerpt(byte[] body)
    {
        if (body.Length == 0) return "(empty body)";
        var text = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, MaxErrorBodyChars * 4));
        return Truncate(text.ReplaceLineEndings(" ").Trim());
    }

    private static string Truncate(string text) => text.Length <= MaxErrorBodyChars ? text : text[..MaxErrorBodyChars] + "…";

    private static IReadOnlyList<string> Slice(IReadOnlyList<string> texts, int offset, int count)
    {
        if (offset == 0 && count == texts.Count) return texts;
        var slice = new string[count];
        for (var i = 0; i < count; i++) slice[i] = texts[offset + i];
        return slice;
    }

    public void Dispose()
    {
        _http.Dispose();
        _concurrency.Dispose();
    }

    private sealed record TransientFailure(string Message, Exception? Cause, TimeSpan? RetryAfter);

    /// <summary>Jitter spreads retries of many callers; it needs no cryptographic randomness.</summary>
    private static class Jitter
    {
#pragma warning disable CA5394 // retry jitter is not a security decision
        public static double NextDouble() => Random.Shared.NextDouble();
#pragma warning restore CA5394
    }
}
