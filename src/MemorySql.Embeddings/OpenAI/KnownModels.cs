using System.Collections.Frozen;

namespace MemorySql.Embeddings.OpenAI;

/// <summary>Native vector lengths of common embedding models, so their Dimensions setting is optional.</summary>
internal static class KnownModels
{
    private static readonly FrozenDictionary<string, int> Dimensions = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase)
    {
        ["text-embedding-3-small"] = 1536,
        ["text-embedding-3-large"] = 3072,
        ["text-embedding-ada-002"] = 1536,
        ["nomic-embed-text"] = 768,
        ["nomic-ai/nomic-embed-text-v1.5"] = 768,
        ["mxbai-embed-large"] = 1024,
        ["mixedbread-ai/mxbai-embed-large-v1"] = 1024,
        ["all-minilm"] = 384,
        ["sentence-transformers/all-MiniLM-L6-v2"] = 384,
        ["snowflake-arctic-embed"] = 1024,
        ["bge-m3"] = 1024,
        ["BAAI/bge-m3"] = 1024,
        ["BAAI/bge-small-en-v1.5"] = 384,
        ["BAAI/bge-base-en-v1.5"] = 768,
        ["BAAI/bge-large-en-v1.5"] = 1024,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>The native dimension of <paramref name="model"/>; an Ollama tag (":latest") is ignored.</summary>
    public static int? DimensionOf(string model)
    {
        if (Dimensions.TryGetValue(model, out var dimension)) return dimension;
        var colon = model.LastIndexOf(':');
        return colon > 0 && Dimensions.TryGetValue(model[..colon], out dimension) ? dimension : null;
    }
}
