using MemorySql.Runtime;

namespace MemorySql.Tests.Cli;

/// <summary>One `memorysql up` on a fresh data folder and a free port, shared by a test class, stopped with SIGTERM at the end.</summary>
public sealed class MemorySqlUpFixture : IAsyncLifetime
{
    private CliProcess? _up;

    public string DataDir { get; } = Path.Combine(Path.GetTempPath(), "memorysql-up-" + Guid.NewGuid().ToString("N")[..10]);
    public int Port { get; } = EmbeddedCluster.FreePort();
    public string Url { get; private set; } = "";
    internal CliProcess Up => _up ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _up = CliProcess.Start("up", "--data-dir", DataDir, "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Url = await _up.WaitForStdOutAsync(l => l.StartsWith("postgresql://", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
    }

    public async Task DisposeAsync()
    {
        if (_up is not null) await _up.DisposeAsync();
        try { Directory.Delete(DataDir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
