using System.Globalization;

namespace MemorySql.Embeddings;

/// <summary>Checks a batch before any provider work, so a bad text fails fast with its position named.</summary>
internal static class EmbeddingInput
{
    /// <summary>Throws a non-transient <see cref="EmbeddingException"/> for a null, empty or whitespace text.</summary>
    public static void Validate(string model, IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        for (var i = 0; i < texts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(texts[i]))
                throw new EmbeddingException(model,
                    string.Create(CultureInfo.InvariantCulture,
                        $"cannot embed text {i} of the batch with {model}: it is {(texts[i] is null ? "null" : "empty or whitespace")}; an embedding needs at least one non-space character"),
                    isTransient: false);
        }
    }
}
