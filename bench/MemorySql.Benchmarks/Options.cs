using System.Globalization;

namespace MemorySql.Benchmarks;

/// <summary>Tiny "--name value" argument reader for the throughput programs.</summary>
internal static class Options
{
    public static string? String(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public static int Int(string[] args, string name, int fallback) =>
        String(args, name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    public static bool Flag(string[] args, string name) => Array.IndexOf(args, name) >= 0;
}
