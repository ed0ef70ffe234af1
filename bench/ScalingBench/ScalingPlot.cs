using ScottPlot;

namespace DataParallel.Bench.Scaling;

/// <summary>Training throughput against the one-way delay, one line per way of synchronising.</summary>
public static class ScalingPlot
{
    public static byte[] Render(IReadOnlyList<Cell> cells, IReadOnlyList<Mode> modes, IReadOnlyList<int> delays)
    {
        using var plot = new Plot();
        plot.Title("Training throughput through a delaying link (2 workers x 1 thread)");
        plot.XLabel("one-way delay (ms)");
        plot.YLabel("images per second (training only)");
        for (var i = 0; i < modes.Count; i++)
        {
            var mine = delays.Select(d => cells.Single(c => c.Mode == modes[i].Name && c.DelayMs == d)).ToList();
            var line = plot.Add.Scatter(mine.Select(c => (double)c.DelayMs).ToArray(), mine.Select(c => c.ImagesPerSecond).ToArray(),
                plot.Add.Palette.GetColor(i));
            line.LineWidth = 2;
            line.MarkerSize = 7;
            line.LegendText = modes[i].Name;
        }
        plot.Axes.SetLimitsY(0, cells.Max(c => c.ImagesPerSecond) * 1.1);
        plot.ShowLegend(Alignment.UpperRight);
        return plot.GetImageBytes(900, 540, ImageFormat.Png);
    }
}
