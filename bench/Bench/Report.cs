using System.Text;

namespace DataParallel.Bench;

/// <summary>Everything a results file says: the setting, the medians and ratios, the targets of issue 12, every run.</summary>
public sealed record Report(
    BenchOptions Options, Machine Machine, string LoadBefore, string LoadAfter, DateTime Started, TimeSpan Duration,
    IReadOnlyList<Configuration> Configurations, IReadOnlyList<Measurement> Runs, string? PyTorchAbsent, string? PyTorchVersion,
    DefaultRunResult? DefaultRun, string ChartFile)
{
    // Numbers format the same everywhere: InvariantGlobalization is on (Directory.Build.props).

    /// <summary>Other processes' share of the machine's CPU time during the sitting (<see cref="CpuShare"/>).</summary>
    public double OthersCpuShare { get; init; }

    private bool Busy => OthersCpuShare > CpuShare.BusyThreshold;

    private IReadOnlyList<Measurement> Good(string key) => Runs.Where(r => r.Key == key && r.Error is null).ToList();

    public double? MedianImagesPerSecond(string key) => Statistics.Median(Good(key).Select(r => r.ImagesPerSecond));

    private double? Median(string key, Func<Measurement, double?> value) => Statistics.Median(Good(key).Select(value));

    public IReadOnlyList<BarChart.Row> ChartRows() => Configurations
        .Where(c => Good(c.Key).Count > 0)
        .Select(c => new BarChart.Row(c.Label, c.Trainer, MedianImagesPerSecond(c.Key)!.Value,
            Good(c.Key).Min(r => r.ImagesPerSecond), Good(c.Key).Max(r => r.ImagesPerSecond)))
        .ToList();

    public string Markdown()
    {
        var o = Options;
        var md = new StringBuilder();
        md.AppendLine($"# Benchmark {Started:yyyy-MM-dd HH:mm} UTC: {Machine.Model}, {Machine.Cpus} CPUs").AppendLine();
        md.AppendLine($"Command: `{o.CommandLine}` ({Duration.TotalMinutes:F1} minutes)").AppendLine();
        md.AppendLine($"- Machine: {Machine.Summary}");
        md.AppendLine($"- Other processes used **{OthersCpuShare:P1}** of the machine's CPU time during the sitting (`/proc/stat` minus this "
            + $"benchmark and its children). Load average (1, 5, 15 min) before: {LoadBefore}; after: {LoadAfter} (our own runs raise it: "
            + "three worker processes and a coordinator on 2 CPUs). Read the spread (min - max) as well as the medians.");
        if (Busy)
            md.AppendLine($"- **The machine was busy** (other processes above {CpuShare.BusyThreshold:P0} of its CPU time): "
                + "configurations with 2 threads in one process suffer most "
                + "(OpenMP threads spin, waiting for a descheduled partner: see their CPU per step), "
                + "so these ratios do not judge the targets; run again on a quiet machine.");
        md.AppendLine($"- PyTorch: {PyTorchAbsent ?? $"{PyTorchVersion} (`{o.Python}`), glibc malloc tunables on, as ours"}");
        var warmup = o.WarmupEpochs > 1 ? $"Epochs 1-{o.WarmupEpochs} of every run are" : "Epoch 1 of every run is";
        md.AppendLine(($"- Workload, the same on both sides: the first {o.Images:N0} MNIST training images, global batch {o.BatchSize}, "
            + $"SGD with Nesterov momentum, one-cycle to lr 0.1 over {o.Epochs} epochs, "
            + $"augmentation {(o.Augment ? "on (±7°, ±10%)" : "off")}. {warmup} warm-up, epoch {o.Epochs} is measured; "
            + "img/s excludes the evaluation of the 10,000 test images, which is timed separately."));
        md.AppendLine($"- {o.Repetitions} repetitions of each configuration, alternating (A B C ... A B C ...); medians.").AppendLine();
        md.AppendLine($"![img/s per configuration]({ChartFile})").AppendLine();
        Throughput(md);
        Distributed(md);
        Targets(md);
        if (DefaultRun is not null) DefaultRun.Markdown(md);
        RawRuns(md);
        return md.ToString();
    }

    private void Throughput(StringBuilder md)
    {
        var pt2 = MedianImagesPerSecond(Configuration.PyTorchTwoThreads);
        var ddp = MedianImagesPerSecond(Configuration.PyTorchDdp);
        md.AppendLine("CPU per step: user and system time of every process of the run (coordinator and workers; PyTorch: all ranks) per step of "
            + $"{Options.BatchSize} images in the measured epoch. Other work on the machine inflates it far less than it lowers img/s.").AppendLine();
        md.AppendLine("| configuration | runs | img/s (median) | min - max | vs PyTorch 2 threads | vs PyTorch DDP | CPU per step (ms) "
            + "| evaluation of 10,000 (s) | test accuracy |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var c in Configurations)
        {
            var good = Good(c.Key);
            var all = Runs.Count(r => r.Key == c.Key);
            if (c.Trainer == Trainer.PyTorch && PyTorchAbsent is not null) { md.AppendLine($"| {c.Label} | absent | | | | | | | |"); continue; }
            if (good.Count == 0)
            {
                md.AppendLine($"| {c.Label} | 0 of {all} | failed: {Runs.FirstOrDefault(r => r.Key == c.Key)?.Error} | | | | | | |");
                continue;
            }
            var median = MedianImagesPerSecond(c.Key)!.Value;
            md.AppendLine(($"| {c.Label} | {good.Count}{(good.Count < all ? $" of {all}" : "")} | **{median:N0}** "
                + $"| {good.Min(r => r.ImagesPerSecond):N0} - {good.Max(r => r.ImagesPerSecond):N0} "
                + $"| {Ratio(median, pt2)} | {Ratio(median, ddp)} | {Fixed(Median(c.Key, r => r.CpuMsPerStep), 1)} "
                + $"| {Fixed(Median(c.Key, r => r.EvalSeconds), 2)} | {100 * Statistics.Median(good.Select(r => r.TestAccuracy)):F2}% |"));
        }
        md.AppendLine();
    }

    private void Distributed(StringBuilder md)
    {
        var ours = Configurations.Where(c => c.Trainer == Trainer.Ours && Good(c.Key).Count > 0).ToList();
        if (ours.Count == 0) return;
        md.AppendLine("Ours, medians of the measured epoch. Per micro-batch: the workers' compute time and the round trip minus it "
            + "(both one-way trips and the queueing on both sides; one way is about half). "
            + "Per step: the coordinator's CPU time and the TCP bytes it sent and received "
            + "(`/proc/PID/stat`, `ss -ti`: their rates between two step lines of the measured epoch, times its seconds per step), "
            + "and each worker's idle time (step wall time minus its compute). "
            + "RSS: largest worker process (in-process rows: the whole process), first sample / largest / last sample.").AppendLine();
        md.AppendLine("| configuration | compute per micro-batch, epoch 1 -> last (ms) | p95 / mean | round trip - compute (ms) "
            + "| worker idle per step (ms) | worker CPU per step (ms) | coordinator CPU per step (ms) | KB per step | RSS (MB) |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var c in ours)
        {
            md.AppendLine(($"| {c.Label} | {Fixed(Median(c.Key, r => r.ComputeMsFirstEpoch), 1)} "
                + $"-> {Fixed(Median(c.Key, r => r.ComputeMsLastEpoch), 1)} "
                + $"| {Fixed(Median(c.Key, r => r.P95OverMean), 2)} | {Fixed(Median(c.Key, r => r.UnitOverheadMs), 1)} "
                + $"| {Fixed(Median(c.Key, r => r.WorkerIdleMsPerStep), 1)} "
                + $"| {Fixed(Median(c.Key, r => r.WorkerCpuMsPerStep), 1)} | {Fixed(Median(c.Key, r => r.CoordinatorCpuMsPerStep), 1)} "
                + $"| {Fixed(Median(c.Key, r => r.BytesPerStep / 1024), 0)} "
                + $"| {Fixed(Median(c.Key, r => r.WorkerRssMbFirst), 0)} / {Fixed(Median(c.Key, r => r.WorkerRssMbMax), 0)} "
                + $"/ {Fixed(Median(c.Key, r => r.WorkerRssMbLast), 0)} |"));
        }
        md.AppendLine();
        var shas = ours.Select(c => (c, Good(c.Key).Select(r => r.Sha256).Distinct().ToList())).ToList();
        md.AppendLine("Final sha256 across repetitions (bit-exact determinism): " + string.Join("; ", shas.Select(s =>
            $"{s.c.Key} {(s.Item2.Count == 1 ? $"identical ({s.Item2[0]?[..12]}...)" : $"**{s.Item2.Count} different**")}")) + ".").AppendLine();
    }

    private void Targets(StringBuilder md)
    {
        var two = MedianImagesPerSecond(Configuration.OursTwoProcesses);
        md.AppendLine("## Targets of issue 12").AppendLine();
        if (Busy) md.AppendLine("Measured on a busy machine (see above): indicative only.").AppendLine();
        // PyTorch at its best settings: the faster of its NCHW and channels-last rows (when both ran).
        double? Best(string key) =>
            MedianImagesPerSecond(key + "-cl") is { } cl ? Math.Max(cl, MedianImagesPerSecond(key) ?? 0) : MedianImagesPerSecond(key);
        Target(md, "2 worker processes >= 1.0x PyTorch single process (2 threads, its better layout)",
            two / Best(Configuration.PyTorchTwoThreads), 1.0, "x");
        Target(md, "2 worker processes >= 1.2x PyTorch DDP 2x1 (its better layout)", two / Best(Configuration.PyTorchDdp), 1.2, "x");
        Target(md, "2 worker processes >= 0.95x our --in-process", two / MedianImagesPerSecond(Configuration.OursInProcess), 0.95, "x");
        var key = Configuration.OursTwoProcesses;
        Target(md, "evaluation of the 10,000 test images < 0.3 s (2 worker processes)",
            Median(key, r => r.EvalSeconds), 0.3, " s", lowerIsBetter: true);
        Target(md, "p95 <= 1.3x mean compute per micro-batch (2 worker processes)", Median(key, r => r.P95OverMean), 1.3, "x", lowerIsBetter: true);
        Target(md, "worker RSS < 500 MB (2 worker processes, largest sample)", Median(key, r => r.WorkerRssMbMax), 500, " MB", lowerIsBetter: true);
        md.AppendLine("- Drift (last epoch within 3% of the first) and RSS flat across epochs need a long run: "
            + (DefaultRun is null ? "run with `--default-run`." : "see the default run below.")).AppendLine();
    }

    private static void Target(StringBuilder md, string what, double? value, double goal, string unit, bool lowerIsBetter = false)
    {
        if (value is not { } v || !double.IsFinite(v)) { md.AppendLine($"- {what}: not measured"); return; }
        var met = lowerIsBetter ? v <= goal : v >= goal;
        md.AppendLine(($"- {what}: **{v:F2}{unit}** {(met ? "(met)" : "(not met)")}"));
    }

    private void RawRuns(StringBuilder md)
    {
        md.AppendLine("## Every run").AppendLine();
        md.AppendLine("| round | configuration | img/s | train s | eval s | CPU ms/step | compute ms (first -> last) | KB/step "
            + "| coordinator CPU ms/step | RSS max MB | note |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in Runs)
            md.AppendLine(r.Error is not null
                ? $"| {r.Round} | {r.Key} | | | | | | | | | failed: {r.Error} |"
                : ($"| {r.Round} | {r.Key} | {r.ImagesPerSecond:N0} | {r.TrainSeconds:F2} | {Fixed(r.EvalSeconds, 2)} "
                    + $"| {Fixed(r.CpuMsPerStep, 1)} | {Fixed(r.ComputeMsFirstEpoch, 1)} -> {Fixed(r.ComputeMsLastEpoch, 1)} "
                    + $"| {Fixed(r.BytesPerStep / 1024, 0)} | {Fixed(r.CoordinatorCpuMsPerStep, 1)} | {Fixed(r.WorkerRssMbMax, 0)} "
                    + $"| {(r.Sha256 is null ? "" : r.Sha256[..12])} |"));
    }

    private static string Ratio(double value, double? reference) => reference is > 0 ? ($"{value / reference:F2}x") : "";

    private static string Fixed(double? value, int decimals) =>
        value is { } v && double.IsFinite(v) ? v.ToString($"F{decimals}") : "-";
}
