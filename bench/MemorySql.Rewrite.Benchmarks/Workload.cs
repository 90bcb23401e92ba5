using System.Globalization;
using System.Text;

namespace MemorySql.Rewrite.Benchmarks;

/// <summary>The statements and vectors the benchmarks use.</summary>
internal static class Workload
{
    /// <summary>pgbench -S, the query a pass-through proxy sees most.</summary>
    public const string PgbenchSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";

    /// <summary>pgbench's TPC-B-like update.</summary>
    public const string PgbenchUpdate = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;";

    /// <summary>A typical agent query through the simple protocol.</summary>
    public const string RecallQuery = "SELECT id, content, score FROM recall('where does Dana like to sit on long flights?', k => 5, tags => '{travel}')";

    /// <summary>The same through the extended protocol.</summary>
    public const string RecallPrepared = "SELECT id, content, score FROM recall($1, k => $2, tags => $3)";

    /// <summary>A 4 KB INSERT of prose with no memory call: the prefilter's worst honest case (many 'r' and 'e').</summary>
    public static readonly string LongInsert =
        "INSERT INTO documents (title, body) VALUES ('Release notes', '" +
        string.Concat(Enumerable.Repeat("The server now restarts workers after a failure and records every retry in the event table. ", 44)) +
        "')";

    /// <summary>A 384-dimension vector in pgvector's text form, as the proxy would produce it (about 4 KB).</summary>
    public static readonly string Vector384 = FormatVector(384);

    private static string FormatVector(int dimension)
    {
        var random = new Random(7);
        var builder = new StringBuilder("[");
        for (var i = 0; i < dimension; i++)
        {
            if (i > 0) builder.Append(',');
            builder.Append(((float)(random.NextDouble() * 2 - 1) / 20f).ToString("R", CultureInfo.InvariantCulture));
        }
        return builder.Append(']').ToString();
    }
}
