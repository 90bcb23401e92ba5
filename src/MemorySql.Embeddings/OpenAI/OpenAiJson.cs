using System.Text.Json.Serialization;

namespace MemorySql.Embeddings.OpenAI;

internal sealed class EmbeddingRequest
{
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("input")]
    public required IReadOnlyList<string> Input { get; init; }

    [JsonPropertyName("dimensions")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Dimensions { get; init; }

    [JsonPropertyName("encoding_format")]
    public string EncodingFormat { get; init; } = "float";
}

internal sealed class EmbeddingResponse
{
    [JsonPropertyName("data")]
    public List<EmbeddingItem>? Data { get; set; }
}

internal sealed class EmbeddingItem
{
    [JsonPropertyName("index")]
    public int? Index { get; set; }

    [JsonPropertyName("embedding")]
    public float[]? Embedding { get; set; }
}

[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Default)]
[JsonSerializable(typeof(EmbeddingRequest))]
[JsonSerializable(typeof(EmbeddingResponse))]
internal sealed partial class OpenAiJsonContext : JsonSerializerContext;
