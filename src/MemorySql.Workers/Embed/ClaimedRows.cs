namespace MemorySql.Workers.Embed;

/// <summary>A claimed memory.embedding_queue row with what embedding it needs.</summary>
internal readonly record struct ClaimedMemory(Guid Id, int Attempts, string Workspace, string Content, bool Deleted);

/// <summary>A claimed memory.query_embeddings row.</summary>
internal readonly record struct ClaimedQuery(string Workspace, byte[] QueryHash, string Query, int Attempts);

/// <summary>A row whose attempt failed, with the delay before it may be claimed again.</summary>
internal readonly record struct RowFailure(int Index, string Error);
