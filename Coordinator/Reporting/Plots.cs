using ScottPlot;
using ScottPlot.TickGenerators;
using SkiaSharp;

namespace DataParallel.Coordinator.Reporting;

/// <summary>The three PNGs of a run directory, rendered in memory so that they can be written atomically.</summary>
public sealed record RunPlots(byte[] Loss, byte[] Metrics, byte[] Workers)
{
    public const string LossFile = "Loss.png";
    public const string MetricsFile = "Metrics.png";
    public const string WorkersFile = "Workers.png";

    public static RunPlots Render(IReadOnlyList<MetricsRow> epochs, IReadOnlyList<ThroughputSample> throughput) =>
        new(Plots.Loss(epochs), Plots.Accuracy(epochs), Plots.Throughput(throughput));
}

/// <summary>ScottPlot charts of a run: loss and accuracy per epoch, and each worker's throughput over time.</summary>
public static class Plots
{
    public const int Width = 900;
    public const int Height = 540;

    public static byte[] Loss(IReadOnlyList<MetricsRow> epochs, int width = Width, int height = Height)
    {
        using var plot = Chart("Loss per epoch", "epoch", "cross-entropy loss");
        EpochAxis(plot);
        Line(plot, epochs, r => r.TrainLoss, "training (mean over the epoch)", 0);
        Line(plot, epochs, r => r.TestLoss, "test (end of epoch)", 1);
        plot.ShowLegend(Alignment.UpperRight);
        return Png(plot, width, height);
    }

    public static byte[] Accuracy(IReadOnlyList<MetricsRow> epochs, int width = Width, int height = Height)
    {
        using var plot = Chart("Accuracy per epoch", "epoch", "accuracy (%)");
        EpochAxis(plot);
        Line(plot, epochs, r => 100 * r.TrainAccuracy, "training (mean over the epoch)", 0);
        Line(plot, epochs, r => 100 * r.TestAccuracy, "test (end of epoch)", 1);
        plot.ShowLegend(Alignment.LowerRight);
        return Png(plot, width, height);
    }

    /// <summary>
    /// One line per worker. A worker's line is broken where it was not a member (it left and came back),
    /// so a crash shows as a drop and an end, a join as a new start.
    /// </summary>
    public static byte[] Throughput(IReadOnlyList<ThroughputSample> samples, int width = Width, int height = Height)
    {
        using var plot = Chart("Training throughput per worker", "seconds since the run started", "images per second");
        var workers = samples.Select(s => s.Worker).Distinct().Order(StringComparer.Ordinal).ToList();
        var window = Window(samples);
        for (var i = 0; i < workers.Count; i++)
        {
            var color = plot.Add.Palette.GetColor(i);
            var mine = samples.Where(s => s.Worker == workers[i] && double.IsFinite(s.ImagesPerSecond)).OrderBy(s => s.Seconds).ToList();
            var first = true;
            foreach (var segment in Segments(mine, window))
            {
                var line = plot.Add.Scatter(segment.Select(s => s.Seconds).ToArray(), segment.Select(s => s.ImagesPerSecond).ToArray(), color);
                line.LineWidth = 2;
                line.MarkerSize = segment.Count == 1 ? 6 : 0;
                if (first) line.LegendText = workers[i];
                first = false;
            }
        }
        if (samples.Count > 0) plot.Axes.Margins(left: 0.02, right: 0.02, bottom: 0, top: 0.1);
        plot.ShowLegend(Alignment.UpperRight);
        return Png(plot, width, height);
    }

    /// <summary>
    /// The chart as a PNG, each row filtered against the one above it and deflated at zlib level 3: 2.9 ms for a
    /// 900 x 540 chart, where ScottPlot's own encoding (Skia's default: every filter tried on every row, level 6) takes
    /// 11 ms, and the three charts of an epoch's end cost 51 ms of CPU at the start of the next epoch, on the workers'
    /// cores. The files are about 30 KB instead of 24, the pixels the same.
    /// </summary>
    public static byte[] Png(Plot plot, int width, int height)
    {
        // As ScottPlot's own GetImage draws it: the same surface, the same pixels.
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"could not make a {width} x {height} drawing surface");
        plot.Render(surface.Canvas, width, height);
        using var image = surface.Snapshot();
        using var pixels = image.PeekPixels();
        using var png = pixels.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Up, 3))
            ?? throw new InvalidOperationException($"could not encode a {width} x {height} chart as PNG");
        return png.ToArray();
    }

    private static Plot Chart(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        return plot;
    }

    private static void EpochAxis(Plot plot) =>
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true };

    private static void Line(Plot plot, IReadOnlyList<MetricsRow> epochs, Func<MetricsRow, double> value, string label, int colorIndex)
    {
        // A diverged epoch has no finite value to draw; the others still do.
        var points = epochs.Where(r => double.IsFinite(value(r))).OrderBy(r => r.Epoch).ToList();
        if (points.Count == 0) return;
        var line = plot.Add.Scatter(
            points.Select(r => (double)r.Epoch).ToArray(), points.Select(value).ToArray(), plot.Add.Palette.GetColor(colorIndex));
        line.LineWidth = 2;
        line.MarkerSize = 7;
        line.LegendText = label;
    }

    /// <summary>The spacing of the samples: the smallest step between two of one worker's consecutive samples.</summary>
    private static double Window(IReadOnlyList<ThroughputSample> samples)
    {
        var steps = samples.GroupBy(s => s.Worker)
            .SelectMany(g => g.Select(s => s.Seconds).Order().Zip(g.Select(s => s.Seconds).Order().Skip(1), (a, b) => b - a))
            .Where(d => d > 0);
        return steps.DefaultIfEmpty(1).Min();
    }

    private static IEnumerable<List<ThroughputSample>> Segments(List<ThroughputSample> samples, double window)
    {
        var segment = new List<ThroughputSample>();
        foreach (var s in samples)
        {
            if (segment.Count > 0 && s.Seconds - segment[^1].Seconds > 1.5 * window)
            {
                yield return segment;
                segment = new List<ThroughputSample>();
            }
            segment.Add(s);
        }
        if (segment.Count > 0) yield return segment;
    }
}
