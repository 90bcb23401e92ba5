using System.Globalization;
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
    private readonly OpenAiEmbeddingOptions _options;
    private readonly OpenAiTransport _transport;

    /// <param name="options">Validated settings (see <see cref="EmbeddingProviderFactory"/>).</param>
    /// <param name="logger">Logs retries.</param>
    /// <param name="handler">The HTTP handler to send through (tests, proxies); one with pooled connections when null. Not disposed by the provider.</param>
    public OpenAiEmbeddingProvider(OpenAiEmbeddingOptions options, ILogger<OpenAiEmbeddingProvider>? logger = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = OpenAiOptionsValidator.Validate(options, "Embeddings:OpenAI");
        if (errors.Count > 0) throw new ArgumentException(string.Join(Environment.NewLine, errors), nameof(options));

        _options = options;
        var endpoint = OpenAiOptionsValidator.Endpoint(options.BaseUrl, "/embeddings");
        Model = options.ModelName is { Length: > 0 } name ? name : options.Model;
        Dimension = options.Dimensions ?? KnownModels.DimensionOf(options.Model)!.Value;
        _transport = new OpenAiTransport(
            new OpenAiTransportSettings(endpoint, "embedding provider", options.Model, "Embeddings:OpenAI", options.ApiKey,
                OpenAiOptionsValidator.UsesApiKeyHeader(options.ApiKeyHeader, endpoint), TimeSpan.FromSeconds(options.TimeoutSeconds),
                options.MaxRetries, options.MaxConcurrency, options.RetryBaseDelaySeconds, options.RetryMaxDelaySeconds),
            logger, handler);
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
        var payload = new EmbeddingRequest
        {
            Model = _options.Model,
            Input = input,
            Dimensions = _options.SendDimensions ? _options.Dimensions : null,
        };
        var response = await _transport.PostAsync(JsonSerializer.SerializeToUtf8Bytes(payload, OpenAiJsonContext.Default.EmbeddingRequest),
            keepError: null, (message, transient, inner) => new EmbeddingException(Model, message, transient, inner), cancellationToken);
        ParseVectors(response.Body, input.Count).CopyTo(results, offset);
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
        new(Model, $"embedding provider {_transport.Describe} returned an unusable response: {problem}", isTransient: false, inner);

    private static string Excerpt(byte[] body) => OpenAiTransport.Excerpt(body);

    private static IReadOnlyList<string> Slice(IReadOnlyList<string> texts, int offset, int count)
    {
        if (offset == 0 && count == texts.Count) return texts;
        var slice = new string[count];
        for (var i = 0; i < count; i++) slice[i] = texts[offset + i];
        return slice;
    }

    public void Dispose() => _transport.Dispose();
}
