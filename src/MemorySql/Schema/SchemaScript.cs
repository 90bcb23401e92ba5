using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace MemorySql.Schema;

/// <summary>One SQL file that ships inside the binary: a versioned migration or an idempotent definition.</summary>
public sealed record SchemaScript(string Name, string Sql)
{
    /// <summary>SHA-256 of the text with line endings normalised, so a checkout on Windows does not look edited.</summary>
    public string Checksum => Convert.ToHexStringLower(
        SHA256.HashData(Encoding.UTF8.GetBytes(Sql.Replace("\r\n", "\n", StringComparison.Ordinal))));

    /// <summary>The number before the first underscore: 0003 for 0003_decay.sql.</summary>
    public int Version => int.Parse(Name.AsSpan(0, Name.IndexOf('_', StringComparison.Ordinal)), NumberStyles.None, CultureInfo.InvariantCulture);

    public static IReadOnlyList<SchemaScript> Migrations() => Load("migrations/");

    public static IReadOnlyList<SchemaScript> Definitions() => Load("sql/");

    private static List<SchemaScript> Load(string prefix)
    {
        var assembly = typeof(SchemaScript).Assembly;
        var scripts = new List<SchemaScript>();
        foreach (var resource in assembly.GetManifestResourceNames()
                     .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            scripts.Add(new SchemaScript(resource[prefix.Length..], reader.ReadToEnd()));
        }
        return scripts;
    }
}
