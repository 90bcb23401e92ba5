using System.Globalization;
using System.Text.RegularExpressions;

namespace MemorySql.Embeddings.OpenAI;

/// <summary>Checks <see cref="OpenAiEmbeddingOptions"/> and says which key is wrong and how to fix it.</summary>
internal static partial class OpenAiOptionsValidator
{
    [GeneratedRegex("^[A-Za-z0-9._:/-]{1,100}$")]
    private static partial Regex StoredModelName();

    public static List<string> Validate(OpenAiEmbeddingOptions options, string section)
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(options.BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            errors.Add($"{section}:BaseUrl must be an absolute http(s) URL such as https://api.openai.com/v1 or http://localhost:11434/v1 (got '{options.BaseUrl}')");
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
        if (!(options.TimeoutSeconds > 0) || options.TimeoutSeconds > 3600)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:TimeoutSeconds must be above 0 and at most 3600 (got {options.TimeoutSeconds})"));
        if (options.MaxRetries is < 0 or > 20)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:MaxRetries must be between 0 and 20 (got {options.MaxRetries})"));
        if (options.MaxConcurrency is < 1 or > 256)
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:MaxConcurrency must be between 1 and 256 (got {options.MaxConcurrency})"));
        if (!(options.RetryBaseDelaySeconds >= 0) || !(options.RetryMaxDelaySeconds >= options.RetryBaseDelaySeconds))
            errors.Add($"{section}:RetryBaseDelaySeconds must be 0 or more and RetryMaxDelaySeconds at least as large");
        if (options.ApiKeyHeader is { Length: > 0 } header &&
            !header.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && !header.Equals("api-key", StringComparison.OrdinalIgnoreCase))
            errors.Add($"{section}:ApiKeyHeader must be 'Authorization' (Bearer) or 'api-key' (Azure OpenAI), not '{header}'");
        return errors;
    }

    /// <summary>BaseUrl + "/embeddings", keeping a query string; a BaseUrl that already ends in /embeddings is used as is.</summary>
    public static Uri EmbeddingsEndpoint(string baseUrl)
    {
        var builder = new UriBuilder(baseUrl);
        var path = builder.Path.TrimEnd('/');
        if (!path.EndsWith("/embeddings", StringComparison.OrdinalIgnoreCase)) path += "/embeddings";
        builder.Path = path;
        return builder.Uri;
    }

    public static bool UsesApiKeyHeader(OpenAiEmbeddingOptions options, Uri endpoint) =>
        options.ApiKeyHeader is { Length: > 0 } header
            ? header.Equals("api-key", StringComparison.OrdinalIgnoreCase)
            : endpoint.Host.EndsWith(".openai.azure.com", StringComparison.OrdinalIgnoreCase);
}
