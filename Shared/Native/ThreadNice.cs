using System.Runtime.InteropServices;

namespace DataParallel.Shared.Native;

/// <summary>
/// The CPU priority of the calling thread alone (Linux: each thread has its own nice value). .NET's
/// <see cref="Thread.Priority"/> does nothing on Linux.
/// </summary>
public static class ThreadNice
{
    /// <summary>The weakest claim on a CPU: a nice-19 thread gets about 1.5% of a core that a nice-0 thread wants.</summary>
    public const int Lowest = 19;

    /// <summary>Sets the calling thread's nice value; false where it cannot (not Linux, or refused).</summary>
    public static bool SetCurrent(int nice)
    {
        if (!OperatingSystem.IsLinux()) return false;
        // setpriority(PRIO_PROCESS, tid) applies to that one thread on Linux.
        return setpriority(PrioProcess, gettid(), nice) == 0;
    }

    private const int PrioProcess = 0;

    [DllImport("libc", SetLastError = true)]
    private static extern int setpriority(int which, int who, int prio);

    [DllImport("libc")]
    private static extern int gettid();
}
