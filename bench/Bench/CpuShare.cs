using System.Globalization;

namespace DataParallel.Bench;

/// <summary>
/// How much of the machine's CPU time went to processes other than this benchmark and its children while it ran.
/// The load average cannot tell: the benchmark's own runs (three worker processes and a coordinator on 2 CPUs) keep
/// it above the CPU count on an otherwise idle machine. Children count once they are reaped (the benchmark waits
/// for every run, a coordinator for its workers, PyTorch for its ranks), so whatever else used a CPU is the rest.
/// </summary>
public sealed record CpuShare(long Busy, long Total, long Own)
{
    /// <summary>Above this share of the machine, other work judged the run (a build, a test suite, a stray loop).</summary>
    public const double BusyThreshold = 0.10;

    /// <summary>/proc/stat's all-CPU line and this process's own and reaped children's time, in the same clock ticks.</summary>
    public static CpuShare Sample()
    {
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal ...: idle and iowait are the time nobody ran.
        var total = cpu.Take(8).Sum();
        var busy = total - cpu[3] - cpu[4];
        // /proc/self/stat: the command (field 2) may hold spaces; fields 14-17 (utime stime cutime cstime) follow it.
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var own = fields.Skip(11).Take(4).Sum(v => long.Parse(v, CultureInfo.InvariantCulture));
        return new CpuShare(busy, total, own);
    }

    /// <summary>The other processes' share of all CPU time between two samples (0 to 1).</summary>
    public static double Others(CpuShare before, CpuShare after)
    {
        var total = after.Total - before.Total;
        if (total <= 0) return 0;
        var others = after.Busy - before.Busy - (after.Own - before.Own);
        return Math.Clamp((double)others / total, 0, 1);
    }
}
