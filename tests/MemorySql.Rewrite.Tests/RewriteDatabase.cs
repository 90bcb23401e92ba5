using System.Diagnostics;
using MemorySql.Testing;
using Npgsql;

namespace MemorySql.Rewrite.Tests;

/// <summary>
/// A fresh database with stand-in memory routines in schema rwtest (so the real memory schema, whatever it
/// holds, plays no part). Each routine has the contract's trailing _embedding and _model parameters and logs
/// every call to rwtest.calls: which routine, the text it received, and whether an embedding came with it.
/// </summary>
public sealed class RewriteDatabase : TestDatabase
{
    public const string Schema = "rwtest";
    public const string Model = "test-model";
    public const string Vector = "[1,2,3]";

    /// <summary>The rewriter for these routines: the default table of functions, schema rwtest.</summary>
    public static readonly SqlRewriter Rewriter = new(new RewriteOptions { Schema = Schema });

    private const string SearchPath = Schema + ",public";

    private NpgsqlDataSource? _client;

    /// <summary>Connections as a client would make them, with rwtest first on the search path.</summary>
    public NpgsqlDataSource Client => _client ??= NpgsqlDataSource.Create(AdminConnectionString + ";Search Path=" + SearchPath);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // Sent through psql as one simple Query, so no client-side statement splitting is involved.
        var (exitCode, _, error) = await QueryAsync("""
            CREATE SCHEMA rwtest;
            CREATE TABLE rwtest.calls (n serial PRIMARY KEY, fn text NOT NULL, txt text, embedded boolean NOT NULL, dims int, model text);

            CREATE FUNCTION rwtest.log_call(fn text, txt text, emb vector, model text) RETURNS int LANGUAGE sql AS
            $$ INSERT INTO rwtest.calls (fn, txt, embedded, dims, model) VALUES (fn, txt, emb IS NOT NULL, vector_dims(emb), model) RETURNING n $$;

            CREATE FUNCTION rwtest.recall(query text, k int DEFAULT 1, _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
            RETURNS TABLE (content text, embedded boolean, model text) LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM rwtest.log_call('recall', query, _embedding, _model);
              RETURN QUERY SELECT query, _embedding IS NOT NULL, _model;
            END $$;

            CREATE FUNCTION rwtest.reflect(query text, k int DEFAULT 1, _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
            RETURNS text LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM rwtest.log_call('reflect', query, _embedding, _model);
              RETURN $1;  -- "RETURN query" would be RETURN QUERY
            END $$;

            CREATE PROCEDURE rwtest.remember(content text, tags text[] DEFAULT NULL, k int DEFAULT 1, _embedding vector DEFAULT NULL, _model text DEFAULT NULL, INOUT id int DEFAULT NULL)
            LANGUAGE plpgsql AS $$
            BEGIN
              id := rwtest.log_call('remember', content, _embedding, _model);
            END $$;

            CREATE PROCEDURE rwtest.revise(id int, content text, _embedding vector DEFAULT NULL, _model text DEFAULT NULL, INOUT new_id int DEFAULT NULL)
            LANGUAGE plpgsql AS $$
            BEGIN
              new_id := rwtest.log_call('revise', content, _embedding, _model);
            END $$;
            """);
        if (exitCode != 0) throw new InvalidOperationException("Creating the rwtest routines failed: " + error);
    }

    public override async Task DisposeAsync()
    {
        if (_client is not null) await _client.DisposeAsync();
        await base.DisposeAsync();
    }

    public sealed record LoggedCall(string Fn, string? Text, bool Embedded, int? Dims, string? Model);

    /// <summary>The calls logged so far, in order, and a clean log for the next statement.</summary>
    public async Task<List<LoggedCall>> TakeCallsAsync()
    {
        var calls = new List<LoggedCall>();
        await using (var cmd = Admin.CreateCommand("SELECT fn, txt, embedded, dims, model FROM rwtest.calls ORDER BY n"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                calls.Add(new LoggedCall(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetBoolean(2),
                    reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
        }
        await ExecuteAsync("TRUNCATE rwtest.calls");
        return calls;
    }

    /// <summary>
    /// Sends the text as one simple-protocol Query through psql -c, exactly as written (no client-side
    /// splitting or rewriting), and returns psql's exit code and output.
    /// </summary>
    public async Task<(int ExitCode, string Output, string Error)> QueryAsync(string sql)
    {
        var csb = new NpgsqlConnectionStringBuilder(AdminConnectionString);
        var start = new ProcessStartInfo(Server.Binaries.Psql)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", csb.Host!, "-p", csb.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", csb.Username!, "-d", csb.Database!, "-c", sql })
            start.ArgumentList.Add(a);
        start.Environment["PGPASSWORD"] = csb.Password;
        start.Environment["PGOPTIONS"] = "-c search_path=" + SearchPath;
        start.Environment["PGCLIENTENCODING"] = "UTF8";
        start.Environment["PGCONNECT_TIMEOUT"] = "10";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
