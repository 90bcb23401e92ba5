namespace MemorySql.Rewrite;

internal static class AssemblyMarker;
