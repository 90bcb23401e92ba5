namespace MemorySql.Embeddings;

internal static class AssemblyMarker;
