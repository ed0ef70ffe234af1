using System.Runtime.InteropServices;

namespace DataParallel.Shared.Native;

/// <summary>
/// glibc hands every large activation buffer back to the kernel after each step and faults it in again on
/// the next one; on this model that costs a factor of three in speed. Raising mmap_threshold and
/// trim_threshold through GLIBC_TUNABLES keeps those buffers in the heap. Tunables are only read when a
/// process starts, so a program that finds them missing re-executes itself (same pid, same arguments)
/// with them set. Where that is impossible, mallopt gets most of the benefit (capped at 32 MiB).
/// </summary>
public static class MallocTuning
{
    public const string Variable = "GLIBC_TUNABLES";
    public const string Tunables = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296";
    /// <summary>Set to 1 to keep glibc's defaults (for measuring what the tunables are worth).</summary>
    public const string OptOutVariable = "DATAPARALLEL_DEFAULT_MALLOC";
    private const string ReexecMarker = "DATAPARALLEL_MALLOC_REEXEC";

    public static bool InEffect =>
        Environment.GetEnvironmentVariable(Variable)?.Contains("glibc.malloc.mmap_threshold") == true;

    /// <summary>What a child training process should have in its environment, on top of ours.</summary>
    public static IReadOnlyDictionary<string, string> ForChildren()
    {
        var result = new Dictionary<string, string>();
        if (Environment.GetEnvironmentVariable(OptOutVariable) != "1")
        {
            // glibc cuts GLIBC_TUNABLES at the first ':' in a running process's environment once it has parsed
            // it, so what we see of our own setting is only its first part: hand children the whole string.
            var current = Environment.GetEnvironmentVariable(Variable);
            result[Variable] = string.IsNullOrEmpty(current) || Tunables.StartsWith(current, StringComparison.Ordinal) ? Tunables : Merge(current);
        }
        return result;
    }

    /// <summary>Call first thing in Main. Returns only if the tunables are in effect or cannot be applied.</summary>
    public static void EnsureApplied()
    {
        if (!OperatingSystem.IsLinux() || InEffect || Environment.GetEnvironmentVariable(OptOutVariable) == "1")
            return;
        if (Environment.GetEnvironmentVariable(ReexecMarker) is null)
            TryReexec();
        ApplyMallopt();
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

        var env = new List<string?>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var key = (string)e.Key;
            if (key is Variable or ReexecMarker) continue;
            env.Add($"{key}={e.Value}");
        }
        env.Add($"{Variable}={Merge(Environment.GetEnvironmentVariable(Variable))}");
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
