using System.Diagnostics;

namespace DataParallel.Bench;

/// <summary>How a child program ended: its exit code (null: killed at the timeout) and the tail of what it said.</summary>
public sealed record ChildResult(int? ExitCode, IReadOnlyList<string> Output, IReadOnlyList<string> ErrorTail)
{
    public string Describe() => ExitCode is null ? "timed out" :
        $"exit code {ExitCode}" + (ErrorTail.Count > 0 ? ": " + ErrorTail[^1] : "");
}

/// <summary>Runs a program to its end, handing each line of its output to a callback as it arrives.</summary>
public static class ChildProcess
{
    public static ChildResult Run(ProcessStartInfo start, TimeSpan timeout, Action<Process, string>? onLine = null)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var output = new List<string>();
        var errors = new Queue<string>();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.Add(e.Data);
            onLine?.Invoke(process, e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not { Length: > 0 } line) return;
            lock (errors)
            {
                errors.Enqueue(line);
                if (errors.Count > 20) errors.Dequeue();
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new ChildResult(null, output, errors.ToList());
        }
        process.WaitForExit(); // drains the asynchronous readers
        lock (output) lock (errors) return new ChildResult(process.ExitCode, output.ToList(), errors.ToList());
    }
}
