using System.Diagnostics;
using System.Text.Json;

namespace MemorySql.IntegrationTests.Support;

/// <summary>Runs a client program as a real process and captures what it printed.</summary>
public static class ExternalProcess
{
    public sealed record Result(string Program, int ExitCode, string StdOut, string StdErr)
    {
        public override string ToString() => $"{Program}: exit {ExitCode}\nstdout:\n{StdOut}\nstderr:\n{StdErr}";

        /// <summary>Fails the test with everything the program printed unless it exited with 0.</summary>
        public Result AssertSucceeded()
        {
            Assert.True(ExitCode == 0, ToString());
            return this;
        }

        /// <summary>
        /// The JSON report the client programs print as their last line of standard output
        /// (after checking the program succeeded).
        /// </summary>
        public JsonElement Report()
        {
            AssertSucceeded();
            var last = StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            Assert.True(last is not null && last.StartsWith('{'), "the client printed no JSON report\n" + ToString());
            try
            {
                using var document = JsonDocument.Parse(last);
                return document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidOperationException("the client's report is not valid JSON: " + e.Message + "\n" + ToString(), e);
            }
        }
    }

    public static async Task<Result> RunAsync(string program, IEnumerable<string> arguments, IDictionary<string, string>? environment = null,
        string? stdin = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        foreach (var a in arguments) info.ArgumentList.Add(a);
        // A developer's own libpq settings must not redirect the clients.
        foreach (var variable in new[] { "PGSERVICE", "PGSSLMODE", "PGOPTIONS", "PGAPPNAME", "PGPASSFILE", "PGSERVICEFILE" })
            info.Environment.Remove(variable);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish in time\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }
        return new Result(program, process.ExitCode, await stdout, await stderr);
    }
}
