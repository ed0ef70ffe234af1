using System.Diagnostics;
using System.Text;

namespace DataParallel.Bench;

/// <summary>
/// The default `train` (2 worker processes, 15 epochs, all of MNIST), run once: what only a long run shows,
/// the time to 99.5% test accuracy, drift of the workers' compute time, and their memory across epochs.
/// </summary>
public sealed record DefaultRunResult(string? Error, RunFiles? Files, IReadOnlyList<(int Epoch, double Mb)> Rss, double? Seconds)
{
    // Numbers format the same everywhere: InvariantGlobalization is on (Directory.Build.props).
    private const int TrainImages = 60_000;

    public static DefaultRunResult Run(BenchOptions options, string scratch)
    {
        var outDir = Path.Combine(scratch, "default-run");
        var start = new ProcessStartInfo(options.Coordinator) { WorkingDirectory = options.Repository };
        foreach (var arg in new[] { "train", "--data", options.Data, "--log-every", "50", "--out", outDir }) start.ArgumentList.Add(arg);
        var sampler = new StepSampler(measuredEpoch: -1, distributed: true);
        var clock = Stopwatch.StartNew();
        var child = ChildProcess.Run(start, TimeSpan.FromHours(1), (p, line) => sampler.OnLine(p.Id, line));
        if (child.ExitCode != 0) return new DefaultRunResult(child.Describe(), null, sampler.Rss, null);
        try { return new DefaultRunResult(null, RunFiles.Read(outDir), sampler.Rss, clock.Elapsed.TotalSeconds); }
        catch (Exception e) when (e is IOException or FormatException or KeyNotFoundException)
        {
            return new DefaultRunResult($"unreadable run files in {outDir}: {e.Message}", null, sampler.Rss, null);
        }
        finally
        {
            try { Directory.Delete(outDir, recursive: true); } catch (IOException) { }
        }
    }

    public void Markdown(StringBuilder md)
    {
        md.AppendLine("## The default `train` (2 worker processes, 15 epochs, all 60,000 images, augmentation on), once").AppendLine();
        if (Error is not null || Files is null) { md.AppendLine($"Failed: {Error}").AppendLine(); return; }
        var epochs = Files.Epochs;
        double elapsed = 0;
        double? toTarget = null;
        int? targetEpoch = null;
        foreach (var e in epochs)
        {
            elapsed += e.Seconds;
            if (toTarget is null && e.TestAccuracy >= 0.995) { toTarget = elapsed; targetEpoch = e.Number; }
        }
        var first = Files.ComputeMs(epochs[0].Number);
        var last = Files.ComputeMs(epochs[^1].Number);
        var toTargetText = toTarget is { } t ? $"**{t:F1} s** (epoch {targetEpoch}, training and evaluation, start-up excluded)" : "not reached";
        md.AppendLine(($"- Time to 99.5% test accuracy: {toTargetText}; whole command {Seconds:F1} s; "
            + $"final test accuracy {100 * epochs[^1].TestAccuracy:F2}%; sha256 {Files.Sha256}"));
        md.AppendLine(($"- Drift: compute per micro-batch {first:F1} ms in epoch 1, {last:F1} ms in epoch {epochs[^1].Number} "
            + $"({100 * (last / first - 1):+0.0;-0.0}%; target within 3%)"));
        var rss = Rss.Select(r => r.Mb).ToList();
        if (rss.Count > 0)
            md.AppendLine(($"- Worker RSS (largest worker): {rss[0]:F0} MB at the first sample, {rss.Max():F0} MB at most, "
                + $"{rss[^1]:F0} MB at the last (target under 500 MB and flat)"));
        md.AppendLine().AppendLine(
            "| epoch | img/s | evaluation (s) | test accuracy | compute per micro-batch (ms) | p95 / mean | worker RSS, largest (MB) |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var e in epochs)
        {
            var epochRss = Rss.Where(r => r.Epoch == e.Number).Select(r => r.Mb).DefaultIfEmpty(double.NaN).Max();
            md.AppendLine(($"| {e.Number} | {e.ImagesPerSecond:N0} | {e.Seconds - TrainImages / e.ImagesPerSecond:F2} | {100 * e.TestAccuracy:F2}% "
                + $"| {Files.ComputeMs(e.Number):F1} | {Files.P95OverMean(e.Number):F2} | {epochRss:F0} |"));
        }
        md.AppendLine();
    }
}
