using System.Globalization;
using MemorySql.Runtime;

namespace MemorySql.Tests.Cli;

/// <summary>
/// One `memorysql up` of a single test, on its own temp data folder and free port, with configuration flags
/// (--Section:Key=value) of the test's choosing; stopped with SIGTERM and its folder removed at the end.
/// </summary>
internal sealed class UpInstance : IAsyncDisposable
{
    private UpInstance(CliProcess process, string dataDir, string url)
    {
        Process = process;
        DataDir = dataDir;
        Url = url;
    }

    public CliProcess Process { get; }
    public string DataDir { get; }

    /// <summary>The URL `up` printed: the proxy, as the default workspace.</summary>
    public string Url { get; }

    public static async Task<UpInstance> StartAsync(params string[] configuration)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "memorysql-journey-" + Guid.NewGuid().ToString("N")[..10]);
        var port = EmbeddedCluster.FreePort().ToString(CultureInfo.InvariantCulture);
        var process = CliProcess.Start(["up", "--data-dir", dataDir, "--port", port, .. configuration]);
        try
        {
            var url = await process.WaitForStdOutAsync(l => l.StartsWith("postgresql://", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
            return new UpInstance(process, dataDir, url);
        }
        catch
        {
            await process.DisposeAsync();
            Delete(dataDir);
            throw;
        }
    }

    /// <summary>The admin URL, as `memorysql url --admin` prints it.</summary>
    public async Task<string> AdminUrlAsync()
    {
        var (exit, stdout, stderr) = await CliProcess.RunAsync("url", "--data-dir", DataDir, "--admin");
        if (exit != 0) throw new InvalidOperationException("memorysql url --admin failed: " + stderr);
        return stdout.Trim();
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        Delete(DataDir);
    }

    private static void Delete(string dataDir)
    {
        try { Directory.Delete(dataDir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
