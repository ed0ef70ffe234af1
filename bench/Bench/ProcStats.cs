using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace DataParallel.Bench;

/// <summary>Readings of other processes from outside: nothing in the trainer is instrumented for the benchmark.</summary>
public static partial class ProcStats
{
    /// <summary>Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU seconds the process has used so far, or null once it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        var fields = StatFields(pid);
        if (fields is null) return null;
        // After "pid (comm)": state is field 3, utime 14 and stime 15, counted from 1.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    /// <summary>Resident set size in MB, from /proc/PID/status.</summary>
    public static double? RssMb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>The processes whose parent is <paramref name="pid"/> and whose name is <paramref name="name"/>.</summary>
    public static IReadOnlyList<int> Children(int pid, string name)
    {
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var child)) continue;
            var fields = StatFields(child, out var comm);
            if (fields is not null && comm == name && fields[1] == pid.ToString(CultureInfo.InvariantCulture)) result.Add(child);
        }
        return result;
    }

    /// <summary>
    /// Bytes sent plus received on the TCP sockets the process holds, from `ss -tinp` (tcp_info), run at nice 19 so that
    /// it takes what the measured run leaves idle.
    /// </summary>
    public static long? SocketBytes(int pid)
    {
        string output;
        try
        {
            var start = new ProcessStartInfo("nice", "-n 19 ss -tinpH")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            using var ss = Process.Start(start)!;
            output = ss.StandardOutput.ReadToEnd();
            ss.WaitForExit();
            if (ss.ExitCode != 0) return null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
        long total = 0;
        var owner = $"pid={pid},";
        var lines = output.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].Contains(owner, StringComparison.Ordinal)) continue;
            // The tcp_info of a socket is on the line after it (or the same line, depending on the terminal width).
            var info = lines[i] + (i + 1 < lines.Length ? " " + lines[i + 1] : "");
            foreach (var key in new[] { "bytes_sent", "bytes_received" })
                if (Regex.Match(info, $@"\b{key}:(\d+)") is { Success: true } m) total += long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        return total;
    }

    private static string[]? StatFields(int pid) => StatFields(pid, out _);

    /// <summary>The fields of /proc/PID/stat after "(comm)", starting with the state (index 0), and the name.</summary>
    private static string[]? StatFields(int pid, out string comm)
    {
        comm = "";
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        var open = text.IndexOf('(');
        var close = text.LastIndexOf(')');
        if (open < 0 || close < open) return null;
        comm = text[(open + 1)..close];
        return text[(close + 2)..].Split(' ');
    }
}
