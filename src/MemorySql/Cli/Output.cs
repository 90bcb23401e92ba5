namespace MemorySql.Cli;

/// <summary>What the CLI says to a person: progress on stderr (so stdout stays clean for `$(memorysql url)`), results on stdout.</summary>
internal static class Output
{
    private static readonly bool Color = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    public static void Progress(string message) =>
        Console.Error.WriteLine(Color ? $"\u001b[2m  {message}\u001b[0m" : $"  {message}");

    public static void Success(string message) =>
        Console.Error.WriteLine(Color ? $"\u001b[32m{message}\u001b[0m" : message);

    public static int Fail(string message)
    {
        Console.Error.WriteLine(Color ? $"\u001b[31merror:\u001b[0m {message}" : $"error: {message}");
        return 1;
    }

    /// <summary>Runs a command body and turns expected failures into one readable line and exit code 1.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
        catch (Npgsql.PostgresException e)
        {
            return Fail($"{e.SqlState}: {e.MessageText}{(e.Detail is null ? "" : " (" + e.Detail + ")")}{(e.Hint is null ? "" : " Hint: " + e.Hint)}");
        }
        catch (Exception e) when (e is InvalidOperationException or Schema.MigrationException or Npgsql.NpgsqlException or IOException or UnauthorizedAccessException or ArgumentException or FormatException or UriFormatException)
        {
            return Fail(e.Message);
        }
    }
}
