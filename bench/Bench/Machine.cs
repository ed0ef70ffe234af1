using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace DataParallel.Bench;

/// <summary>What the results depend on besides the code: the processor, its cores, and how busy it was.</summary>
public sealed partial record Machine(string Model, int Cpus, int CoresPerSocket, int ThreadsPerCore, double MemoryGiB, string Os, string DotNet)
{
    public static Machine Describe()
    {
        var lscpu = Run("lscpu", "") ?? "";
        string Field(string name) =>
            Regex.Match(lscpu, $@"^{Regex.Escape(name)}:\s*(.+)$", RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value.Trim() : "";
        int Number(string name) => int.TryParse(Field(name), out var n) ? n : 0;
        var memory = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"')
                ?? "Linux"
            : "Linux";
        return new Machine(
            Field("Model name") is { Length: > 0 } model ? model : "unknown processor",
            Number("CPU(s)") is > 0 and var cpus ? cpus : Environment.ProcessorCount,
            Number("Core(s) per socket"), Number("Thread(s) per core"),
            memory is null ? 0 : long.Parse(memory, CultureInfo.InvariantCulture) / 1024.0 / 1024.0,
            os, Environment.Version.ToString());
    }

    /// <summary>For the results file's name: "amd-epyc-2cpu".</summary>
    public string Slug => $"{SlugRegex().Replace(Model.ToLowerInvariant(), "-").Trim('-')}-{Cpus}cpu";

    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"{Model}, {Cpus} CPUs ({CoresPerSocket} cores per socket, {ThreadsPerCore} threads per core), {MemoryGiB:F0} GiB; {Os}; .NET {DotNet}");

    /// <summary>/proc/loadavg's 1, 5 and 15 minute averages.</summary>
    public static string LoadAverage() =>
        string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public static string? Run(string program, string arguments)
    {
        try
        {
            var start = new ProcessStartInfo(program, arguments)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            using var p = Process.Start(start)!;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex SlugRegex();
}
