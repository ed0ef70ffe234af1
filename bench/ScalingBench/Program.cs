// Throughput, accuracy and bytes per step of `--sync grads` and `--sync params --local-steps k` through a link with
// a one-way delay: a coordinator and two 1-thread workers in network namespaces, every connection through the
// tests' DelayRelay, TLS and the join token on (Tests/Support/RelayedCluster.cs). One short epoch per cell.
//   sudo dotnet bench/ScalingBench/bin/Release/net10.0/ScalingBench.dll [out-dir] [delays ms, comma-separated]
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using DataParallel.Bench.Scaling;
using DataParallel.Coordinator.Reporting;
using DataParallel.Tests.Support;

var c = CultureInfo.InvariantCulture;
var outDir = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine(Repository.Root, "docs", "scaling"));
var delays = (args.Length > 1 ? args[1] : "0,1,5,20").Split(',').Select(d => int.Parse(d, c)).ToArray();
Directory.CreateDirectory(outDir);

Mode[] modes =
[
    new("grads", ["--sync", "grads"]),
    new("params k=1", ["--sync", "params", "--local-steps", "1"]),
    new("params k=4", ["--sync", "params", "--local-steps", "4"]),
    new("params k=16", ["--sync", "params", "--local-steps", "16"]),
];
string[] budget = ["--epochs", "1", "--limit-train", "7680", "--limit-test", "1000", "--log-every", "1"];

var cells = new List<Cell>();
foreach (var delay in delays)
    foreach (var mode in modes)
    {
        var cell = Measure(mode, delay);
        cells.Add(cell);
        Console.WriteLine(string.Create(c, $"{mode.Name,-12} {delay,3} ms: {cell.ImagesPerSecond,7:F0} img/s, test {100 * cell.TestAccuracy:F2}%, "
            + $"{cell.BytesPerStep / 1024:F0} KiB/step, load {cell.LoadBefore:F2} -> {cell.LoadAfter:F2}"));
    }

File.WriteAllText(Path.Combine(outDir, "scaling.csv"), Csv(cells));
File.WriteAllText(Path.Combine(outDir, "scaling.md"), Markdown(cells, modes, delays));
File.WriteAllBytes(Path.Combine(outDir, "scaling.png"), ScalingPlot.Render(cells, modes, delays));
Console.WriteLine($"wrote {outDir}/scaling.md, scaling.csv, scaling.png");
return 0;

Cell Measure(Mode mode, int delayMs)
{
    var loadBefore = LoadAverage();
    using var cluster = new RelayedCluster(TimeSpan.FromMilliseconds(delayMs), "w1", "w2");
    var coordinator = cluster.StartCoordinator(2, [.. budget, .. mode.Args]);
    cluster.StartWorker("w1");
    cluster.StartWorker("w2");
    // Bytes on the wire between the first and the last step line: the training steps alone, not joining or evaluating.
    var stepLine = new Regex(@"epoch 01 step (\d+)/(\d+)");
    (int Step, long Bytes)? first = null, last = null;
    var seen = 0;
    var deadline = Stopwatch.StartNew();
    while (!coordinator.Process.HasExited)
    {
        if (deadline.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException($"{mode.Name} at {delayMs} ms\n{cluster.Output}");
        var bytes = cluster.RelayedBytes.Values.Sum();
        var lines = stepLine.Matches(coordinator.Stdout);
        if (lines.Count > seen)
        {
            seen = lines.Count;
            var step = int.Parse(lines[^1].Groups[1].Value, c);
            first ??= (step, bytes);
            last = (step, bytes);
        }
        Thread.Sleep(10);
    }
    coordinator.WaitForExit(TimeSpan.FromSeconds(30));
    if (coordinator.Process.ExitCode != 0) throw new InvalidOperationException($"exit {coordinator.Process.ExitCode}\n{cluster.Output}");
    var row = MetricsFiles.ReadMetricsCsv(Path.Combine(cluster.RunDirectory, RunFiles.MetricsCsv)).Single();
    var perStep = first is { } f && last is { } l && l.Step > f.Step ? (double)(l.Bytes - f.Bytes) / (l.Step - f.Step) : double.NaN;
    return new Cell(mode.Name, delayMs, row.ImagesPerSecond, row.TestAccuracy, row.Seconds, perStep,
        cluster.RelayedBytes.Values.Sum(), loadBefore, LoadAverage());
}

static double LoadAverage() => double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

string Csv(IEnumerable<Cell> rows)
{
    var csv = new StringBuilder("mode,delay_ms,images_per_second,test_accuracy,epoch_seconds,bytes_per_step,bytes_total,load_before,load_after\n");
    foreach (var r in rows)
        csv.Append(string.Create(c, $"{r.Mode},{r.DelayMs},{r.ImagesPerSecond:F1},{r.TestAccuracy:R},{r.Seconds:F3},"
            + $"{r.BytesPerStep:F0},{r.BytesTotal},{r.LoadBefore:F2},{r.LoadAfter:F2}\n"));
    return csv.ToString();
}

string Markdown(List<Cell> rows, Mode[] all, int[] ds)
{
    var md = new StringBuilder();
    var each = string.Join(" / ", ds.Select(d => $"{d}"));
    md.AppendLine("| sync | " + string.Join(" | ", ds.Select(d => $"img/s at {d} ms"))
        + $" | test accuracy ({each} ms) | KiB per step ({each} ms) |");
    md.AppendLine("| --- |" + string.Concat(ds.Select(_ => " ---: |")) + " --- | --- |");
    foreach (var m in all)
    {
        var mine = ds.Select(d => rows.Single(r => r.Mode == m.Name && r.DelayMs == d)).ToList();
        md.AppendLine($"| {m.Name} | " + string.Join(" | ", mine.Select(r => string.Create(c, $"{r.ImagesPerSecond:N0}")))
            + " | " + string.Join(" / ", mine.Select(r => string.Create(c, $"{100 * r.TestAccuracy:F1}%")))
            + " | " + string.Join(" / ", mine.Select(r => string.Create(c, $"{r.BytesPerStep / 1024:F0}"))) + " |");
    }
    md.AppendLine();
    md.AppendLine("Load average (1 min) before each cell: "
        + string.Join(", ", rows.Select(r => string.Create(c, $"{r.Mode} @ {r.DelayMs} ms: {r.LoadBefore:F1}"))));
    return md.ToString();
}

namespace DataParallel.Bench.Scaling
{
    public sealed record Mode(string Name, string[] Args);

    public sealed record Cell(string Mode, int DelayMs, double ImagesPerSecond, double TestAccuracy, double Seconds,
        double BytesPerStep, long BytesTotal, double LoadBefore, double LoadAfter);
}
