using System.Diagnostics;
using MemorySql.Runtime;

namespace MemorySql.Tests.Cli;

/// <summary>The real `memorysql` CLI (the built memorysql.dll) as a child process, with its output collected line by line.</summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly SemaphoreSlim _lineArrived = new(0);

    private CliProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Add(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Add(_stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "memorysql.dll");

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string StdOut { get { lock (_stdout) return string.Join('\n', _stdout); } }
    public string StdErr { get { lock (_stderr) return string.Join('\n', _stderr); } }

    public static CliProcess Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        return new CliProcess(Process.Start(psi)!);
    }

    /// <summary>Runs a short command to its end and returns (exit code, stdout, stderr).</summary>
    public static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(params string[] args)
    {
        await using var p = Start(args);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p._process.WaitForExitAsync(timeout.Token);
        p._process.WaitForExit(); // drains the output handlers
        return (p.ExitCode, p.StdOut, p.StdErr);
    }

    /// <summary>Waits for a stdout line that satisfies the predicate; fails with everything printed so far.</summary>
    public async Task<string> WaitForStdOutAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_stdout)
            {
                var hit = _stdout.FirstOrDefault(predicate);
                if (hit is not null) return hit;
            }
            if (_process.HasExited)
                throw new InvalidOperationException($"memorysql exited ({_process.ExitCode}) before printing the expected line.\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"memorysql did not print the expected line within {timeout}.\nstdout:\n{StdOut}\nstderr:\n{StdErr}");
            await _lineArrived.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Sends a POSIX signal (TERM, INT) as a user or a service manager would.</summary>
    public void Signal(string signal)
    {
        var r = ProcessRunner.Run("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], runAsServiceUser: false);
        if (r.ExitCode != 0) throw new InvalidOperationException("kill failed: " + r.Output);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                Signal("TERM");
                await WaitForExitAsync(TimeSpan.FromSeconds(60));
            }
            catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
        _lineArrived.Dispose();
    }

    private void Add(List<string> lines, string? line)
    {
        if (line is null) return;
        lock (lines) lines.Add(line);
        _lineArrived.Release();
    }
}
