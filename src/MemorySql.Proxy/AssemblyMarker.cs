namespace MemorySql.Proxy;

internal static class AssemblyMarker;
