using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace MemorySql.Embeddings.OpenAI;

/// <summary>How one OpenAI-compatible endpoint is reached (shared by the embedding and the chat providers).</summary>
/// <param name="Endpoint">The full URL requests are POSTed to.</param>
/// <param name="What">What is called, for messages: "embedding provider", "LLM".</param>
/// <param name="Model">The model named in messages.</param>
/// <param name="Section">The configuration section, for messages that name a key: "Embeddings:OpenAI", "Llm:OpenAI".</param>
internal sealed record OpenAiTransportSettings(Uri Endpoint, string What, string Model, string Section, string? ApiKey, bool UseApiKeyHeader,
    TimeSpan Timeout, int MaxRetries, int MaxConcurrency, double RetryBaseDelaySeconds, double RetryMaxDelaySeconds);

/// <summary>A response the transport hands back: 2xx, or an error status the caller asked to see.</summary>
internal readonly record struct OpenAiResponse(int Status, byte[] Body, int Attempts);

/// <summary>
/// POSTs JSON to one OpenAI-compatible endpoint with the discipline every model call needs: bounded requests in
/// flight (per transport), a timeout per attempt (sending the request and reading the whole response), retries of
/// transient failures — timeouts, connection errors, 408, 429, 5xx — with exponential backoff and jitter,
/// honouring Retry-After (a wait longer than the configured maximum fails at once, transiently, instead of
/// blocking), and errors that name the endpoint, the server's own message and the key to check. Never logs or
/// shows the API key.
/// </summary>
internal sealed class OpenAiTransport : IDisposable
{
    private const int MaxErrorBodyChars = 500;

    private readonly OpenAiTransportSettings _settings;
    private readonly ILogger? _logger;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _concurrency;

    /// <param name="handler">The HTTP handler to send through (tests, outbound proxies); pooled connections when null. Not disposed.</param>
    public OpenAiTransport(OpenAiTransportSettings settings, ILogger? logger, HttpMessageHandler? handler)
    {
        _settings = settings;
        _logger = logger;
        _concurrency = new SemaphoreSlim(settings.MaxConcurrency, settings.MaxConcurrency);
        Describe = $"{settings.Model} at {settings.Endpoint.GetLeftPart(UriPartial.Path)}";
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = settings.Timeout,
                AutomaticDecompression = DecompressionMethods.All,
            }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = Timeout.InfiniteTimeSpan; // each attempt has its own timeout
    }

    /// <summary>"model at https://host/v1/…": how messages name the endpoint.</summary>
    public string Describe { get; }

    /// <summary>
    /// POSTs <paramref name="body"/> (JSON) until it succeeds or fails for good. Returns 2xx responses, and
    /// error responses for which <paramref name="keepError"/> returns true (the caller handles them, e.g. an
    /// unsupported request field). Throws what <paramref name="fail"/> makes of every other failure:
    /// (message, isTransient, cause).
    /// </summary>
    public async Task<OpenAiResponse> PostAsync(byte[] body, Func<int, byte[], bool>? keepError,
        Func<string, bool, Exception?, Exception> fail, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var (response, failure) = await TryPostAsync(body, keepError, fail, cancellationToken);
            if (failure is null) return response with { Attempts = attempt + 1 };
            if (attempt >= _settings.MaxRetries)
                throw fail(string.Create(CultureInfo.InvariantCulture, $"{_settings.What} {Describe} failed after {attempt + 1} attempts: {failure.Message}"), true, failure.Cause);

            var delay = RetryDelay(attempt, failure.RetryAfter);
            if (delay is null)
                throw fail(string.Create(CultureInfo.InvariantCulture,
                    $"{_settings.What} {Describe} is rate limiting and asks to retry after {failure.RetryAfter!.Value.TotalSeconds:F0} s, longer than {_settings.Section}:RetryMaxDelaySeconds ({_settings.RetryMaxDelaySeconds:F0} s): {failure.Message}"),
                    true, failure.Cause);
            _logger?.LogWarning("Request to {What} {Endpoint} failed ({Error}); retry {Retry} of {MaxRetries} in {Delay} ms",
                _settings.What, Describe, failure.Message, attempt + 1, _settings.MaxRetries, (int)delay.Value.TotalMilliseconds);
            await Task.Delay(delay.Value, cancellationToken);
        }
    }

    /// <summary>One request: the response, or a transient failure to retry; throws for the rest.</summary>
    private async Task<(OpenAiResponse Response, TransientFailure? Failure)> TryPostAsync(byte[] body, Func<int, byte[], bool>? keepError,
        Func<string, bool, Exception?, Exception> fail, CancellationToken cancellationToken)
    {
        await _concurrency.WaitAsync(cancellationToken);
        try
        {
            using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptTimeout.CancelAfter(_settings.Timeout);
            try
            {
                using var request = CreateRequest(body);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptTimeout.Token);
                var content = await response.Content.ReadAsByteArrayAsync(attemptTimeout.Token);
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode || (keepError?.Invoke(status, content) ?? false))
                    return (new OpenAiResponse(status, content, 0), null);
                return (default, Classify(response, content, fail));
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                return (default, new TransientFailure(string.Create(CultureInfo.InvariantCulture,
                    $"no complete response within {_settings.Section}:TimeoutSeconds ({_settings.Timeout.TotalSeconds} s)"), e, null));
            }
            catch (HttpRequestException e)
            {
                return (default, new TransientFailure(e.HttpRequestError == HttpRequestError.Unknown ? e.Message : $"{e.HttpRequestError}: {e.Message}", e, null));
            }
            catch (IOException e)
            {
                return (default, new TransientFailure("connection failed while reading the response: " + e.Message, e, null));
            }
        }
        finally
        {
            _concurrency.Release();
        }
    }

    private HttpRequestMessage CreateRequest(byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _settings.Endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (!string.IsNullOrEmpty(_settings.ApiKey))
        {
            if (_settings.UseApiKeyHeader) request.Headers.TryAddWithoutValidation("api-key", _settings.ApiKey);
            else request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.ApiKey);
        }
        return request;
    }

    private TransientFailure Classify(HttpResponseMessage response, byte[] body, Func<string, bool, Exception?, Exception> fail)
    {
        var status = (int)response.StatusCode;
        var detail = string.Create(CultureInfo.InvariantCulture, $"HTTP {status} {response.ReasonPhrase}: {ErrorMessage(body)}");
        if (status == 429)
            return new TransientFailure(detail, null, RetryAfter(response));
        if (status is 408 or >= 500)
            return new TransientFailure(detail, null, status == 503 ? RetryAfter(response) : null);
        throw fail($"{_settings.What} {Describe} rejected the request: {detail}{Hint(status)}", false, null);
    }

    /// <summary>What to check for an error status, naming the configuration keys.</summary>
    public string Hint(int status) => status switch
    {
        401 or 403 => $" (check {_settings.Section}:ApiKey" + (_settings.UseApiKeyHeader ? "" : $"; Azure OpenAI needs {_settings.Section}:ApiKeyHeader = api-key") + ")",
        404 => $" (check {_settings.Section}:BaseUrl — it usually ends in /v1 — and {_settings.Section}:Model)",
        _ => "",
    };

    private TimeSpan? RetryDelay(int attempt, TimeSpan? retryAfter)
    {
        var max = TimeSpan.FromSeconds(_settings.RetryMaxDelaySeconds);
        if (retryAfter is { } asked)
        {
            if (asked > max) return null;
            // A little jitter on top, never below what the server asked for.
            return asked + TimeSpan.FromMilliseconds(asked.TotalMilliseconds * 0.1 * Jitter.NextDouble());
        }
        var ceiling = Math.Min(_settings.RetryMaxDelaySeconds, _settings.RetryBaseDelaySeconds * Math.Pow(2, attempt));
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
    public static string ErrorMessage(byte[] body)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == System.Text.Json.JsonValueKind.Object)
            {
                if (root.TryGetProperty("error", out var error))
                {
                    if (error.ValueKind == System.Text.Json.JsonValueKind.String) return Truncate(error.GetString()!);
                    if (error.ValueKind == System.Text.Json.JsonValueKind.Object && error.TryGetProperty("message", out var message)
                        && message.ValueKind == System.Text.Json.JsonValueKind.String)
                        return Truncate(message.GetString()!);
                }
                if (root.TryGetProperty("detail", out var detail))
                    return Truncate(detail.ValueKind == System.Text.Json.JsonValueKind.String ? detail.GetString()! : detail.GetRawText());
                if (root.TryGetProperty("message", out var plain) && plain.ValueKind == System.Text.Json.JsonValueKind.String)
                    return Truncate(plain.GetString()!);
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not JSON: show the text itself.
        }
        return Excerpt(body);
    }

    /// <summary>The start of a body, on one line, for error messages.</summary>
    public static string Excerpt(byte[] body)
    {
        if (body.Length == 0) return "(empty body)";
        var text = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, MaxErrorBodyChars * 4));
        return Truncate(text.ReplaceLineEndings(" ").Trim());
    }

    public static string Truncate(string text) => text.Length <= MaxErrorBodyChars ? text : text[..MaxErrorBodyChars] + "…";

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
