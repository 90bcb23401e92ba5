using System.Diagnostics;
using System.Text;

namespace MemorySql.Runtime;

/// <summary>Result of a finished child process.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    public string Output => (StdOut + "\n" + StdErr).Trim();
}

/// <summary>
/// Runs the PostgreSQL programs. PostgreSQL refuses to run as root, so when we are root the server
/// programs run as an unprivileged service user (postgres, else nobody) through runuser.
/// </summary>
public static class ProcessRunner
{
    public static bool IsRoot => Environment.UserName == "root" || GetEuid() == 0;

    /// <summary>The account the server runs as when we are root.</summary>
    public static string ServiceUser { get; } = PickServiceUser();

    public static ProcessResult Run(string program, IReadOnlyList<string> args, bool runAsServiceUser,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var process = Start(program, args, runAsServiceUser, environment, redirect: true);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            return new ProcessResult(-1, stdout.ToString(), stderr + $"\n{Path.GetFileName(program)} timed out");
        }
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    public static Process Start(string program, IReadOnlyList<string> args, bool runAsServiceUser,
        IReadOnlyDictionary<string, string>? environment = null, bool redirect = true)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = redirect,
            RedirectStandardError = redirect,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        if (runAsServiceUser && IsRoot)
        {
            psi.FileName = "runuser";
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(ServiceUser);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(program);
        }
        else
        {
            psi.FileName = program;
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Messages from the server programs are parsed in places; keep them in English.
        psi.Environment["LC_MESSAGES"] = "C";
        psi.Environment["LANG"] = "C.UTF-8";
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
    }

    /// <summary>Gives a folder to the service user when we are root, so the server can own its data.</summary>
    public static void HandToServiceUser(string path)
    {
        if (!IsRoot) return;
        var r = Run("chown", ["-R", ServiceUser + ":", path], runAsServiceUser: false);
        if (r.ExitCode != 0) throw new InvalidOperationException($"chown {ServiceUser} {path} failed: {r.Output}");
    }

    private static string PickServiceUser()
    {
        try
        {
            var passwd = File.ReadAllLines("/etc/passwd");
            if (passwd.Any(l => l.StartsWith("postgres:", StringComparison.Ordinal))) return "postgres";
        }
        catch (IOException) { }
        return "nobody";
    }

    private static uint GetEuid()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("Uid:", StringComparison.Ordinal)) continue;
                var parts = line.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                return uint.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        catch (IOException) { }
        return uint.MaxValue;
    }
}
