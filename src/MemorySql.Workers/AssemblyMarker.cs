namespace MemorySql.Workers;

internal static class AssemblyMarker;
