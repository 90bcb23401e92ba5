namespace MemorySql.Workers.Extraction;

/// <summary>A memory extraction proposes.</summary>
/// <param name="Message">The message (1-based) it comes from.</param>
internal sealed record ExtractedItem(string Content, string Kind, string Type, string? Entity, float? Importance, int Message,
    DateTimeOffset? ValidFrom, IReadOnlyList<string> Tags, string? SessionKey = null);
