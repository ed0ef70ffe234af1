using System.Globalization;
using System.Text.RegularExpressions;

namespace DataParallel.Bench;

/// <summary>
/// Samples the coordinator and its worker processes each time the coordinator prints a step line
/// (`--log-every`): resident memory always, and in the measured epoch CPU time and socket bytes twice, at the
/// first step line a quarter into it and the first one three quarters into it, as rates per second. Twice only:
/// socket bytes come from running `ss`, and an `ss` at every step line (every 200 ms) took CPU from the run being
/// measured (quick sittings before and after: 2 worker processes against in-process 0.89x, then 0.92x).
/// </summary>
public sealed partial class StepSampler(int measuredEpoch, bool distributed)
{
    private sealed record Sample(double Seconds, double CoordinatorCpu, double WorkerCpu, long? Bytes);

    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    private IReadOnlyList<int> _workers = [];
    private Sample? _first, _last;

    /// <summary>The largest worker's (in-process: the process's) resident memory at each step line, with its epoch.</summary>
    public List<(int Epoch, double Mb)> Rss { get; } = new();

    public IReadOnlyList<double> RssMb => Rss.Select(r => r.Mb).ToList();

    [GeneratedRegex(@"^\s*epoch (\d+) step (\d+)/(\d+)")]
    private static partial Regex StepLine();

    public void OnLine(int coordinator, string line)
    {
        var m = StepLine().Match(line);
        if (!m.Success) return;
        int epoch = Int(m.Groups[1]), step = Int(m.Groups[2]), steps = Int(m.Groups[3]);
        if (distributed && _workers.Count == 0) _workers = ProcStats.Children(coordinator, "Worker");
        var rss = distributed ? _workers.Select(ProcStats.RssMb).Max() : ProcStats.RssMb(coordinator);
        if (rss is { } r) Rss.Add((epoch, r));
        // From a quarter into the epoch: its first step lines queue behind the reporter's end-of-epoch work
        // (files, plots) and arrive in a burst, later than the steps they report. To three quarters: the last
        // lines may arrive after the evaluation has started sending test images.
        if (epoch != measuredEpoch || _last is not null || step >= steps) return;
        if (_first is null ? step < steps / 4 : step < 3 * steps / 4) return;
        var sample = new Sample(_clock.Elapsed.TotalSeconds, ProcStats.CpuSeconds(coordinator) ?? double.NaN,
            _workers.Sum(w => ProcStats.CpuSeconds(w) ?? double.NaN),
            distributed ? ProcStats.SocketBytes(coordinator) : null);
        if (_first is null) _first = sample;
        else _last = sample;
    }

    /// <summary>Seconds between the first and the last sample (0 if there were fewer than two).</summary>
    public double Seconds => _first is null || _last is null ? 0 : _last.Seconds - _first.Seconds;

    // Per step = rate during the window x the epoch's seconds per step. Step lines can arrive late and in
    // bursts, so counting the steps between two samples misjudges the window; its clock does not.
    public double? CoordinatorCpuMsPerStep(double stepSeconds) => PerStep(s => s.CoordinatorCpu * 1000, stepSeconds);

    public double? WorkerCpuMsPerStep(double stepSeconds) =>
        distributed && _workers.Count > 0 ? PerStep(s => s.WorkerCpu * 1000 / _workers.Count, stepSeconds) : null;

    /// <summary>The coordinator's CPU time and all its workers': with --in-process that is the whole run.</summary>
    public double? TotalCpuMsPerStep(double stepSeconds) => PerStep(s => (s.CoordinatorCpu + s.WorkerCpu) * 1000, stepSeconds);

    public double? BytesPerStep(double stepSeconds) => distributed ? PerStep(s => s.Bytes is { } b ? b : double.NaN, stepSeconds) : null;

    private double? PerStep(Func<Sample, double> value, double stepSeconds)
    {
        if (Seconds < 0.25) return null; // too short for 10 ms CPU ticks to say anything
        var perStep = (value(_last!) - value(_first!)) / Seconds * stepSeconds;
        return double.IsFinite(perStep) ? perStep : null;
    }

    private static int Int(Group g) => int.Parse(g.Value, CultureInfo.InvariantCulture);
}
