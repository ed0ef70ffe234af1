using System.Globalization;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Data;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace DataParallel.Coordinator.Inference;

/// <summary>
/// Confusion.png and Mistakes.png of an evaluation, rendered in memory (ScottPlot, as the run's own plots) to be written atomically.
/// </summary>
public static class EvaluationPlots
{
    public const string ConfusionFile = "Confusion.png";
    public const string MistakesFile = "Mistakes.png";
    public const int ConfusionWidth = 760;
    public const int ConfusionHeight = 700;
    public const int MistakesColumns = 10;
    public const int MaxMistakes = 100;
    private const int CellPixels = 84;
    private const int LabelPixels = 22;

    /// <summary>Counts in every cell; colour on a log scale, so that a single confusion stands out beside the diagonal's hundreds.</summary>
    public static byte[] Confusion(TestEvaluation e, int width = ConfusionWidth, int height = ConfusionHeight)
    {
        var c = CultureInfo.InvariantCulture;
        var n = e.Classes;
        using var plot = new Plot();
        plot.Title(string.Create(c, $"Confusion matrix: {e.Correct:N0} of {e.Count:N0} test images right ({e.Accuracy * 100:F2}%)"));
        plot.XLabel("predicted digit");
        plot.YLabel("true digit");
        var intensities = new double[n, n];
        var max = 0.0;
        for (var t = 0; t < n; t++)
            for (var p = 0; p < n; p++)
                max = Math.Max(max, intensities[t, p] = Math.Log10(1 + e.Confusion[t, p]));
        var heatmap = plot.Add.Heatmap(intensities); // row 0 (true digit 0) at the top
        heatmap.Colormap = new ScottPlot.Colormaps.Reversed(new ScottPlot.Colormaps.Blues()); // none white, many dark blue
        heatmap.ManualRange = new ScottPlot.Range(0, Math.Max(max, 1));
        heatmap.Rectangle = new CoordinateRect(-0.5, n - 0.5, -0.5, n - 0.5);
        for (var t = 0; t < n; t++)
            for (var p = 0; p < n; p++)
            {
                var label = plot.Add.Text(e.Confusion[t, p].ToString(c), p, n - 1 - t);
                label.Alignment = Alignment.MiddleCenter;
                label.LabelFontSize = 15;
                label.LabelBold = t == p;
                label.LabelFontColor = intensities[t, p] > 0.55 * Math.Max(max, 1) ? Colors.White : Colors.Black;
            }
        var bottom = new NumericManual();
        var left = new NumericManual();
        for (var d = 0; d < n; d++)
        {
            bottom.AddMajor(d, d.ToString(c));
            left.AddMajor(n - 1 - d, d.ToString(c));
        }
        plot.Axes.Bottom.TickGenerator = bottom;
        plot.Axes.Left.TickGenerator = left;
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        plot.HideGrid();
        return Plots.Png(plot, width, height);
    }

    /// <summary>
    /// The misclassified digits, the most confidently wrong first (at most <see cref="MaxMistakes"/>), each labelled
    /// "true / predicted" with the probability the model gave its wrong answer.
    /// </summary>
    /// <param name="images">The evaluated images, 28x28 bytes each, in the order the evaluation indexed them.</param>
    public static byte[] Mistakes(TestEvaluation e, ReadOnlySpan<byte> images)
    {
        var c = CultureInfo.InvariantCulture;
        var shown = e.Mistakes.OrderByDescending(m => m.Probability).ThenBy(m => m.Index).Take(MaxMistakes).ToList();
        var columns = MistakesColumns;
        var rows = Math.Max(1, (shown.Count + columns - 1) / columns);
        // One cell is 1 x (1 + label) in plot units; the image size keeps the pixels square.
        var labelHeight = (double)LabelPixels / CellPixels;
        using var plot = new Plot();
        plot.Title(shown.Count == e.Mistakes.Count
            ? string.Create(c, $"Misclassified: {e.Mistakes.Count:N0} of {e.Count:N0} test images (true / predicted, probability of the prediction)")
            : string.Create(c,
                $"Misclassified: {e.Mistakes.Count:N0} of {e.Count:N0} test images, the {shown.Count} most confident (true / predicted)"),
            size: 15);
        for (var i = 0; i < shown.Count; i++)
        {
            var m = shown[i];
            var (col, row) = (i % columns, i / columns);
            var pixels = new double[MnistDataset.Side, MnistDataset.Side];
            var image = images.Slice(m.Index * MnistDataset.ImageBytes, MnistDataset.ImageBytes);
            for (var y = 0; y < MnistDataset.Side; y++)
                for (var x = 0; x < MnistDataset.Side; x++)
                    pixels[y, x] = image[y * MnistDataset.Side + x];
            var top = -row * (1 + labelHeight) - labelHeight;
            var digit = plot.Add.Heatmap(pixels);
            digit.Colormap = new ScottPlot.Colormaps.Grayscale();
            digit.ManualRange = new ScottPlot.Range(0, 255);
            digit.Rectangle = new CoordinateRect(col + 0.04, col + 0.96, top - 0.92, top);
            var label = plot.Add.Text(string.Create(c, $"{m.Label} / {m.Predicted}  {m.Probability * 100:F0}%"), col + 0.5, top + labelHeight / 2);
            label.Alignment = Alignment.MiddleCenter;
            label.LabelFontSize = 12;
            label.LabelFontColor = m.Probability >= 0.9 ? Colors.DarkRed : Colors.Black;
        }
        if (shown.Count == 0)
            plot.Add.Text("no mistakes", columns / 2.0, -0.5).Alignment = Alignment.MiddleCenter;
        plot.HideAxesAndGrid();
        plot.Axes.Title.IsVisible = true;
        plot.Axes.SetLimits(0, columns, -rows * (1 + labelHeight), 0);
        const int titlePixels = 50;
        return Plots.Png(plot, columns * CellPixels, rows * (CellPixels + LabelPixels) + titlePixels);
    }
}
