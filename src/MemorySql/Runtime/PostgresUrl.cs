using System.Globalization;
using Npgsql;

namespace MemorySql.Runtime;

/// <summary>postgresql:// URLs (what psql and most drivers take) and their conversion to Npgsql connection strings.</summary>
public static class PostgresUrl
{
    public static string Build(string host, int port, string user, string password, string database) =>
        $"postgresql://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@{host}:{port.ToString(CultureInfo.InvariantCulture)}/{Uri.EscapeDataString(database)}";

    /// <summary>Accepts either a postgresql:// URL or a key=value connection string and returns an Npgsql connection string.</summary>
    public static string ToConnectionString(string urlOrConnectionString)
    {
        if (!urlOrConnectionString.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) &&
            !urlOrConnectionString.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return new NpgsqlConnectionStringBuilder(urlOrConnectionString).ConnectionString;
        }
        var uri = new Uri(urlOrConnectionString);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : null,
        };
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) builder.Password = Uri.UnescapeDataString(parts[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]);
            var value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            switch (key)
            {
                case "sslmode": builder.SslMode = Enum.Parse<SslMode>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true); break;
                case "application_name": builder.ApplicationName = value; break;
                default: builder[key] = value; break;
            }
        }
        return builder.ConnectionString;
    }
}
