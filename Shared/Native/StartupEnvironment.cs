using System.Runtime.InteropServices;

namespace DataParallel.Shared.Native;

/// <summary>
/// Settings a training process must start with, because glibc and the .NET runtime read them only at start-up.
/// A program that finds them missing re-executes itself once (same pid, same arguments) with them set, and
/// hands them to the worker processes it starts.
/// <list type="bullet">
/// <item><c>GLIBC_TUNABLES</c> raising mmap_threshold and trim_threshold: glibc otherwise hands every large
/// activation buffer back to the kernel after each step and faults it in again on the next; 3x faster here.
/// Where re-executing is impossible, mallopt gets most of that (capped at 32 MiB).</item>
/// <item>... and <c>arena_max=1</c>: one malloc arena for every thread. A worker computes on its actor's own thread,
/// whose allocations otherwise go to a second arena made of 64 MiB heaps, which glibc maps and unmaps as a step's
/// activations grow past one and shrink back, whatever the thresholds. Seen in 2-worker runs: now and then one
/// worker took 118,000 page faults a second (the other 600) and computed at 17-23 ms per micro-batch against 15.
/// With one arena: both workers alike in 11 runs out of 11, and about 600 faults a second in each.</item>
/// <item><c>DOTNET_EnableWriteXorExecute=0</c>: with W^X the runtime maps, remaps and unmaps code pages all
/// the time (a worker made ~100 mmap/munmap calls a second, on the core it computes on); off, two worker
/// processes trained 14% faster (alternating runs, 3 of each). This gives up a hardening feature that .NET
/// turned on in version 7; a user who sets the variable keeps their value.</item>
/// </list>
/// </summary>
public static class StartupEnvironment
{
    public const string TunablesVariable = "GLIBC_TUNABLES";
    public const string Tunables = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296:glibc.malloc.arena_max=1";
    public const string WriteXorExecuteVariable = "DOTNET_EnableWriteXorExecute";
    /// <summary>Set to 1 to keep glibc's and .NET's defaults (for measuring what these settings are worth).</summary>
    public const string OptOutVariable = "DATAPARALLEL_DEFAULTS";
    private const string ReexecMarker = "DATAPARALLEL_REEXEC";

    private static bool OptedOut => Environment.GetEnvironmentVariable(OptOutVariable) == "1";

    public static bool TunablesInEffect =>
        Environment.GetEnvironmentVariable(TunablesVariable)?.Contains("glibc.malloc.mmap_threshold") == true;

    public static bool InEffect => TunablesInEffect && Environment.GetEnvironmentVariable(WriteXorExecuteVariable) is not null;

    /// <summary>What a child training process should have in its environment, on top of ours.</summary>
    public static IReadOnlyDictionary<string, string> ForChildren()
    {
        var result = new Dictionary<string, string>();
        if (OptedOut) return result;
        // glibc cuts GLIBC_TUNABLES at the first ':' in a running process's environment once it has parsed
        // it, so what we see of our own setting is only its first part: hand children the whole string.
        var current = Environment.GetEnvironmentVariable(TunablesVariable);
        result[TunablesVariable] = string.IsNullOrEmpty(current) || Tunables.StartsWith(current, StringComparison.Ordinal)
            ? Tunables
            : Merge(current);
        result[WriteXorExecuteVariable] = Environment.GetEnvironmentVariable(WriteXorExecuteVariable) ?? "0";
        return result;
    }

    /// <summary>Call first thing in Main. Returns only if the settings are in effect or cannot be applied.</summary>
    public static void EnsureApplied()
    {
        if (!OperatingSystem.IsLinux() || InEffect || OptedOut)
            return;
        if (Environment.GetEnvironmentVariable(ReexecMarker) is null)
            TryReexec();
        if (!TunablesInEffect) ApplyMallopt();
    }

    /// <summary>The value for a child process's environment: any tunables already set, plus ours.</summary>
    public static string Merge(string? existing) =>
        string.IsNullOrEmpty(existing) ? Tunables : existing + ":" + Tunables;

    private static void TryReexec()
    {
        string[] argv;
        try
        {
            var raw = File.ReadAllBytes("/proc/self/cmdline");
            argv = System.Text.Encoding.UTF8.GetString(raw).TrimEnd('\0').Split('\0');
        }
        catch (IOException) { return; }
        var exe = Environment.ProcessPath;
        if (exe is null || argv.Length == 0) return;

        var wanted = ForChildren();
        var env = new List<string?>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var key = (string)e.Key;
            if (key == ReexecMarker || wanted.ContainsKey(key)) continue;
            env.Add($"{key}={e.Value}");
        }
        env.AddRange(wanted.Select(kv => $"{kv.Key}={kv.Value}"));
        env.Add($"{ReexecMarker}=1");
        env.Add(null);
        var args = new List<string?>(argv) { null };
        Console.Out.Flush();
        execve(exe, args.ToArray(), env.ToArray());
        // Only reached when execve failed; mallopt below is the fallback.
    }

    private static void ApplyMallopt()
    {
        try
        {
            mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
            mallopt(M_TRIM_THRESHOLD, int.MaxValue);
        }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_THRESHOLD = -3;

    [DllImport("libc", SetLastError = true)]
    private static extern int execve(string path, string?[] argv, string?[] envp);

    [DllImport("libc")]
    private static extern int mallopt(int param, int value);
}
