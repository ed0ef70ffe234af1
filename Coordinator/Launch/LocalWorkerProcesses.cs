using System.Diagnostics;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Native;
using DataParallel.Shared.Security;

namespace DataParallel.Coordinator.Launch;

/// <summary>
/// Starts `Worker` processes on this machine that join the coordinator over loopback, and makes sure they
/// end with the run: they are killed on dispose, and each also exits by itself when its parent is gone.
/// </summary>
public sealed class LocalWorkerProcesses : IDisposable
{
    private readonly List<Process> _processes = new();
    private readonly TextWriter _error;
    private volatile bool _stopping;

    private LocalWorkerProcesses(TextWriter error) => _error = error;

    public IReadOnlyList<Process> Processes => _processes;

    public static LocalWorkerProcesses Start(int count, string seedHost, int seedPort, int threads, string? token, ClusterTls? tls, TextWriter error)
    {
        var launcher = new LocalWorkerProcesses(error);
        try
        {
            for (var i = 1; i <= count; i++)
                launcher.StartOne($"local-{i}", seedHost, seedPort, threads, token, tls,
                    CpuAffinity.ForWorker(i - 1, count, threads, Environment.ProcessorCount));
        }
        catch
        {
            launcher.Dispose();
            throw;
        }
        return launcher;
    }

    /// <param name="cpus">CPUs to pin the worker to (null: let the scheduler place it).</param>
    public Process StartOne(string id, string seedHost, int seedPort, int threads, string? token, ClusterTls? tls = null, int[]? cpus = null)
    {
        var start = WorkerStartInfo();
        foreach (var arg in new[] { "--seed", $"{seedHost}:{seedPort}", "--threads", threads.ToString(), "--id", id,
                     "--parent-pid", Environment.ProcessId.ToString() })
            start.ArgumentList.Add(arg);
        if (cpus is not null)
        {
            start.ArgumentList.Add("--cpus");
            start.ArgumentList.Add(CpuAffinity.Format(cpus));
        }
        if (tls is not null)
        {
            start.ArgumentList.Add("--tls-certificate");
            start.ArgumentList.Add(tls.Path);
        }
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        // The token travels in the environment, not the command line, which any user can read with ps.
        if (token is not null) start.Environment[JoinToken.EnvironmentVariable] = token;
        else start.Environment.Remove(JoinToken.EnvironmentVariable);
        // Likewise the certificate's password; a stale one inherited from our own environment is not passed on.
        if (tls?.Password is not null) start.Environment[ClusterTls.PasswordVariable] = tls.Password;
        else start.Environment.Remove(ClusterTls.PasswordVariable);
        foreach (var (key, value) in StartupEnvironment.ForChildren()) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start worker {id}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            // Once the run is over, what workers say while their connections close is noise, not news.
            if (e.Data is not { Length: > 0 } line || _stopping) return;
            // This runs on a thread of its own: an exception here would end the whole process, not just the forwarding.
            try
            {
                _error.WriteLine($"[{id}] {line}");
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // Our stderr is gone (a closed pipe, a full disk): the worker's lines are lost, the run is not.
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;
    }

    /// <summary>
    /// The Worker program: next to this one (a published or container layout, the tests' output), else in the Worker
    /// project's output beside this project's (a build of the repository); its apphost if present, else `dotnet Worker.dll`.
    /// </summary>
    public static ProcessStartInfo WorkerStartInfo()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        // <repo>/Coordinator/bin/<Configuration>/<tfm>/ -> <repo>/Worker/bin/<Configuration>/<tfm>/
        var sibling = here.Parent?.Parent?.Parent?.Parent is { } repository
            ? Path.Combine(repository.FullName, "Worker", "bin", here.Parent!.Name, here.Name)
            : null;
        foreach (var directory in new[] { here.FullName, sibling }.OfType<string>())
        {
            var apphost = Path.Combine(directory, OperatingSystem.IsWindows() ? "Worker.exe" : "Worker");
            if (File.Exists(apphost)) return new ProcessStartInfo(apphost);
            var dll = Path.Combine(directory, "Worker.dll");
            if (!File.Exists(dll)) continue;
            var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
            var info = new ProcessStartInfo(host);
            info.ArgumentList.Add(dll);
            return info;
        }
        throw new FileNotFoundException(
            $"the Worker program is neither in {here.FullName} nor in {sibling}; build the solution (dotnet build -c Release)");
    }

    /// <summary>Waits a moment for workers to leave after RunFinished, then kills any still running.</summary>
    public void Stop(TimeSpan grace)
    {
        _stopping = true;
        var deadline = DateTime.UtcNow + grace;
        foreach (var p in _processes)
        {
            var left = deadline - DateTime.UtcNow;
            try
            {
                if (left > TimeSpan.Zero) p.WaitForExit(left);
                if (!p.HasExited) p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException) { }
        }
    }

    public void Dispose()
    {
        Stop(TimeSpan.Zero);
        foreach (var p in _processes) p.Dispose();
        _processes.Clear();
    }
}
