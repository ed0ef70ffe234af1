using System.Diagnostics;
using System.Text;
using DataParallel.Shared.Native;

namespace DataParallel.Tests.Support;

/// <summary>A real Coordinator or Worker process started from the test's output folder, with its output captured.</summary>
public sealed class ProgramProcess : IDisposable
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();

    private ProgramProcess(Process process) => Process = process;

    public Process Process { get; }
    public int Id => Process.Id;

    public string Stdout { get { lock (_gate) return _stdout.ToString(); } }
    public string Stderr { get { lock (_gate) return _stderr.ToString(); } }

    /// <param name="program">"Coordinator" or "Worker".</param>
    /// <param name="launcher">A command that execs the program, e.g. <c>ip netns exec NAME</c> (the pid stays the program's).</param>
    public static ProgramProcess Start(string program, IEnumerable<string> args, string? workingDirectory = null,
        IDictionary<string, string?>? environment = null, IReadOnlyList<string>? launcher = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, program + ".dll");
        if (!File.Exists(dll)) throw new FileNotFoundException(dll);
        Signals.UnignoreInterrupt();
        var start = new ProcessStartInfo(launcher?[0] ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (launcher is not null)
        {
            foreach (var a in launcher.Skip(1)) start.ArgumentList.Add(a);
            start.ArgumentList.Add("dotnet");
        }
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.WorkingDirectory = workingDirectory ?? Path.GetTempPath();
        // Exercise the programs' own start-up: they must set the environment they need themselves.
        start.Environment.Remove(StartupEnvironment.TunablesVariable);
        start.Environment.Remove(StartupEnvironment.WriteXorExecuteVariable);
        start.Environment.Remove("DATAPARALLEL_TOKEN");
        start.Environment.Remove("DATAPARALLEL_TLS_PASSWORD");
        if (environment is not null)
            foreach (var (k, v) in environment)
            {
                if (v is null) start.Environment.Remove(k);
                else start.Environment[k] = v;
            }
        var process = Process.Start(start) ?? throw new InvalidOperationException("process did not start");
        var result = new ProgramProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (result._gate) result._stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (result._gate) result._stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>Runs to completion (killing it past <paramref name="timeout"/>) and returns the exit code.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string program, IEnumerable<string> args, TimeSpan timeout,
        string? workingDirectory = null, IDictionary<string, string?>? environment = null)
    {
        using var p = Start(program, args, workingDirectory, environment);
        if (!p.WaitForExit(timeout))
        {
            p.Kill();
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:F0} s"
                + $"\nstdout:\n{p.Stdout}\nstderr:\n{p.Stderr}");
        }
        return (p.Process.ExitCode, p.Stdout, p.Stderr);
    }

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!Process.WaitForExit(timeout)) return false;
        Process.WaitForExit(); // drain the output readers
        return true;
    }

    /// <summary>
    /// Waits until stdout contains <paramref name="text"/> (at or after character <paramref name="from"/>); false on timeout or exit.
    /// </summary>
    public bool WaitForOutput(string text, TimeSpan timeout, int from = 0) =>
        WaitFor(() => Stdout.IndexOf(text, from, StringComparison.Ordinal) >= 0, timeout);

    /// <summary>
    /// Waits until stderr contains <paramref name="text"/> (at or after character <paramref name="from"/>); false on timeout or exit.
    /// </summary>
    public bool WaitForError(string text, TimeSpan timeout, int from = 0) =>
        WaitFor(() => Stderr.IndexOf(text, from, StringComparison.Ordinal) >= 0, timeout);

    // The timeout is a safety net for a broken build, never what a test relies on: callers wait for an event.
    private bool WaitFor(Func<bool> seen, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (seen()) return true;
            if (Process.HasExited) { Process.WaitForExit(); return seen(); }
            Thread.Sleep(100);
        }
        return false;
    }

    public void Kill()
    {
        try { if (!Process.HasExited) Process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        Process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        Kill();
        Process.Dispose();
    }
}
