namespace MemorySql.Workers.Extraction;

/// <summary>What session_commit asked for its items (resources of kind session).</summary>
internal sealed record SessionCommitDefaults(string Type, string Kind, float? Importance, IReadOnlyList<string> Tags);
