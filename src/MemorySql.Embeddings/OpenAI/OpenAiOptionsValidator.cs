using System.Globalization;
using System.Text.RegularExpressions;

namespace MemorySql.Embeddings.OpenAI;

/// <summary>Checks the settings of the OpenAI-compatible providers and says which key is wrong and how to fix it.</summary>
internal static partial class OpenAiOptionsValidator
{
    [GeneratedRegex("^[A-Za-z0-9._:/-]{1,100}$")]
    private static partial Regex StoredModelName();

    public static List<string> Validate(OpenAiEmbeddingOptions options, string section)
    {
        var errors = new List<string>();
        if (ValidateBaseUrl(options.BaseUrl, section) is { } badUrl) errors.Add(badUrl);
        if (string.IsNullOrWhiteSpace(options.Model))
            errors.Add($"{section}:Model is required, e.g. text-embedding-3-small or nomic-embed-text");

        var stored = options.ModelName is { Length: > 0 } name ? name : options.Model;
        if (!string.IsNullOrWhiteSpace(stored) && !StoredModelName().IsMatch(stored))
            errors.Add($"the stored model name '{stored}' may only use letters, digits and . _ : / - (at most 100); set {section}:ModelName to such a name");

        var dimension = options.Dimensions ?? (string.IsNullOrWhiteSpace(options.Model) ? null : KnownModels.DimensionOf(options.Model));
        if (dimension is null && !string.IsNullOrWhiteSpace(options.Model))
            errors.Add($"{section}:Dimensions is required for model '{options.Model}' (its vector length is not known to MemorySql); set it to the length the model returns, e.g. 768");
        else if (dimension is < 1 or > 2000)
            errors.Add(string.Create(CultureInfo.InvariantCulture,
                $"{section}:Dimensions is {dimension}, but pgvector indexes 1 to 2000 dimensions; choose 2000 or less (text-embedding-3 models shorten their vectors on request)"));

        if (options.BatchSize is < 1 or > 2048)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:BatchSize must be between 1 and 2048 (got {options.BatchSize})"));
        errors.AddRange(ValidateConnection(options.TimeoutSeconds, options.MaxRetries, options.MaxConcurrency, options.RetryBaseDelaySeconds,
            options.RetryMaxDelaySeconds, options.ApiKeyHeader, section));
        return errors;
    }

    /// <summary>A problem with a BaseUrl (an absolute http(s) URL), or null.</summary>
    public static string? ValidateBaseUrl(string? baseUrl, string section) =>
        Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? null
            : $"{section}:BaseUrl must be an absolute http(s) URL such as https://api.openai.com/v1 or http://localhost:11434/v1 (got '{baseUrl}')";

    /// <summary>The checks every OpenAI-compatible client shares: timeouts, retries, concurrency, the key header.</summary>
    public static List<string> ValidateConnection(double timeoutSeconds, int maxRetries, int maxConcurrency, double retryBaseDelaySeconds,
        double retryMaxDelaySeconds, string? apiKeyHeader, string section)
    {
        var errors = new List<string>();
        if (!(timeoutSeconds > 0) || timeoutSeconds > 3600)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:TimeoutSeconds must be above 0 and at most 3600 (got {timeoutSeconds})"));
        if (maxRetries is < 0 or > 20)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:MaxRetries must be between 0 and 20 (got {maxRetries})"));
        if (maxConcurrency is < 1 or > 256)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:MaxConcurrency must be between 1 and 256 (got {maxConcurrency})"));
        if (!(retryBaseDelaySeconds >= 0) || !(retryMaxDelaySeconds >= retryBaseDelaySeconds))
            errors.Add($"{section}:RetryBaseDelaySeconds must be 0 or more and RetryMaxDelaySeconds at least as large");
        if (apiKeyHeader is { Length: > 0 } header &&
            !header.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && !header.Equals("api-key", StringComparison.OrdinalIgnoreCase))
            errors.Add($"{section}:ApiKeyHeader must be 'Authorization' (Bearer) or 'api-key' (Azure OpenAI), not '{header}'");
        return errors;
    }

    /// <summary>BaseUrl + <paramref name="suffix"/> ("/embeddings", "/chat/completions"), keeping a query string; a BaseUrl that already ends in the suffix is used as is.</summary>
    public static Uri Endpoint(string baseUrl, string suffix)
    {
        var builder = new UriBuilder(baseUrl);
        var path = builder.Path.TrimEnd('/');
        if (!path.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) path += suffix;
        builder.Path = path;
        return builder.Uri;
    }

    /// <summary>BaseUrl + "/embeddings" (see <see cref="Endpoint"/>).</summary>
    public static Uri EmbeddingsEndpoint(string baseUrl) => Endpoint(baseUrl, "/embeddings");

    public static bool UsesApiKeyHeader(OpenAiEmbeddingOptions options, Uri endpoint) => UsesApiKeyHeader(options.ApiKeyHeader, endpoint);

    /// <summary>Whether the key goes in Azure's "api-key" header: as configured, else for *.openai.azure.com hosts.</summary>
    public static bool UsesApiKeyHeader(string? apiKeyHeader, Uri endpoint) =>
        apiKeyHeader is { Length: > 0 } header
            ? header.Equals("api-key", StringComparison.OrdinalIgnoreCase)
            : endpoint.Host.EndsWith(".openai.azure.com", StringComparison.OrdinalIgnoreCase);
}
