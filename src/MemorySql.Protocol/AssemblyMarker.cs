namespace MemorySql.Protocol;

internal static class AssemblyMarker;
