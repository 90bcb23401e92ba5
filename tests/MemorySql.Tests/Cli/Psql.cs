using MemorySql.Runtime;

namespace MemorySql.Tests.Cli;

/// <summary>The real psql client, fed a script on stdin.</summary>
internal static class Psql
{
    public static async Task<(int ExitCode, string Output)> RunScriptAsync(string url, string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"script-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var r = await Task.Run(() => ProcessRunner.Run(PostgresBinaries.Locate().Psql,
                [url, "-X", "-v", "ON_ERROR_STOP=1", "-f", file], runAsServiceUser: false));
            return (r.ExitCode, r.Output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The ```sql blocks of a Markdown file, in order.</summary>
    public static IReadOnlyList<string> SqlBlocks(string markdownPath)
    {
        var blocks = new List<string>();
        var lines = File.ReadAllLines(markdownPath);
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```sql") continue;
            var block = new List<string>();
            for (i++; i < lines.Length && lines[i].Trim() != "```"; i++) block.Add(lines[i]);
            blocks.Add(string.Join('\n', block));
        }
        return blocks;
    }

    /// <summary>The repository root, found from the test's folder.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MemorySql.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (MemorySql.sln) not found above " + AppContext.BaseDirectory);
    }
}
