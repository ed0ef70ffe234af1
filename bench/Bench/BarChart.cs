using ScottPlot;

namespace DataParallel.Bench;

/// <summary>The results as a horizontal bar chart: median img/s per configuration, whiskers from the slowest to the fastest run.</summary>
public static class BarChart
{
    public sealed record Row(string Label, Trainer Trainer, double Median, double Min, double Max);

    public static byte[] Render(string title, IReadOnlyList<Row> rows, int width = 1000, int height = 120 + 48 * 10)
    {
        using var plot = new Plot();
        plot.Title(title);
        plot.XLabel("training images per second (median; whiskers: slowest and fastest run)");
        var ours = Colors.C0;
        var pytorch = Colors.C1;
        var ticks = new List<Tick>();
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var position = rows.Count - 1 - i; // first row on top
            plot.Add.Bar(new Bar
            {
                Position = position,
                Value = row.Median,
                FillColor = row.Trainer == Trainer.Ours ? ours : pytorch,
                Orientation = Orientation.Horizontal,
            });
            // The median's value right of the whisker, where neither hides the other.
            var text = plot.Add.Text($" {row.Median:N0}", Math.Max(row.Max, row.Median), position);
            text.LabelAlignment = Alignment.MiddleLeft;
            text.LabelFontSize = 13;
            var whisker = plot.Add.Line(row.Min, position, row.Max, position);
            whisker.LineColor = Colors.Black;
            whisker.LineWidth = 2;
            ticks.Add(new Tick(position, row.Label));
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.Margins(left: 0, right: 0.12, bottom: 0.05, top: 0.05);
        plot.Grid.YAxisStyle.MajorLineStyle.Width = 0;
        return plot.GetImageBytes(width, Math.Max(height, 120 + 48 * rows.Count), ImageFormat.Png);
    }
}
