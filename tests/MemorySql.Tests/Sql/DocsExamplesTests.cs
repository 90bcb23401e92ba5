using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using MemorySql.Testing;

namespace MemorySql.Tests.Sql;

/// <summary>
/// Every ```sql block of docs/sql.md runs, in order, in one psql session against a fresh database: blocks
/// starting with "-- as admin" as the administrator (first), all others as a workspace role.
/// </summary>
public sealed partial class DocsExamplesTests : IClassFixture<TestDatabase>
{
    private readonly TestDatabase _db;

    public DocsExamplesTests(TestDatabase db) => _db = db;

    [GeneratedRegex(@"^```sql\s*\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex SqlBlock();

    [GeneratedRegex(@"CREATE ROLE (\w+)", RegexOptions.IgnoreCase)]
    private static partial Regex CreateRole();

    private static string DocsPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "sql.md"))) dir = dir.Parent;
        return dir is null ? throw new FileNotFoundException("docs/sql.md not found above " + AppContext.BaseDirectory)
                           : Path.Combine(dir.FullName, "docs", "sql.md");
    }

    [Fact]
    public async Task EveryExampleInDocsSqlMd_Runs()
    {
        var blocks = SqlBlock().Matches(await File.ReadAllTextAsync(DocsPath())).Select(m => m.Groups[1].Value).ToList();
        Assert.True(blocks.Count >= 20, $"expected the reference to have examples, found {blocks.Count}");
        var admin = blocks.Where(b => b.TrimStart().StartsWith("-- as admin", StringComparison.Ordinal)).ToList();
        var user = blocks.Except(admin).ToList();
        var extraRoles = admin.SelectMany(b => CreateRole().Matches(b).Select(m => m.Groups[1].Value)).ToList();
        var ws = await _db.CreateWorkspaceAsync("docs");
        var before = await _db.ScalarAsync<string[]>("SELECT array_agg(name::text) FROM memory.workspaces") ?? [];
        try
        {
            await RunPsqlAsync(_db.Server.AdminUser, _db.Server.AdminPassword, string.Join("\n", admin));
            var output = await RunPsqlAsync(ws.Name, ws.Password, string.Join("\n", user));
            Assert.Contains("refused:", output); // the error-handling example ran its handler
        }
        finally
        {
            var created = await _db.ScalarAsync<string[]>("SELECT array_agg(name::text) FROM memory.workspaces WHERE NOT (name::text = ANY ($1::text[]))", (object)before) ?? [];
            foreach (var name in created) await _db.ExecuteAsync("SELECT memory.drop_workspace($1)", name);
            foreach (var role in extraRoles) await _db.Server.DropRoleAsync(role);
        }
    }

    private async Task<string> RunPsqlAsync(string user, string password, string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"memorysql-docs-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var start = new ProcessStartInfo(_db.Server.Binaries.Psql)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardOutputEncoding = Encoding.UTF8,
            };
            foreach (var arg in new[] { "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", _db.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                                        "-U", user, "-d", _db.Name, "-f", file })
                start.ArgumentList.Add(arg);
            start.Environment["PGPASSWORD"] = password;
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"psql as {user} failed ({process.ExitCode}):\n{await stderr}\n--- output ---\n{await stdout}");
            return await stdout + await stderr;
        }
        finally
        {
            File.Delete(file);
        }
    }
}
