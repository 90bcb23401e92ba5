namespace MemorySql.Workers.Extraction;

/// <summary>A claimed memory.extraction_queue row with its resource.</summary>
internal sealed record ClaimedResource(Guid Id, string Workspace, int Attempts, string? Entity, string? Process, Guid? SessionId, string Kind,
    string Content, string Metadata);
