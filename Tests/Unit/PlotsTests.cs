using DataParallel.Shared.Settings;
using DataParallel.Coordinator;
using DataParallel.Coordinator.Cli;
using DataParallel.Coordinator.Reporting;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class PlotsTests
{
    private static readonly MetricsRow[] Epochs =
    [
        new(1, 0.9, 0.70, 0.5, 0.85, 10, 3000, 2, 0.1),
        new(2, 0.4, 0.88, 0.3, 0.92, 10, 3100, 2, 0.05),
        new(3, 0.2, 0.94, 0.15, 0.96, 10, 3050, 2, 0.01),
    ];

    // w2 crashes after 3 s and is replaced by w3.
    private static readonly ThroughputSample[] Throughput =
    [
        new(1, "w1", 1500), new(1, "w2", 1400), new(2, "w1", 1550), new(2, "w2", 1450), new(3, "w1", 1500), new(3, "w2", 0),
        new(4, "w1", 1600), new(5, "w1", 1500), new(5, "w3", 900), new(6, "w1", 1500), new(6, "w3", 1450),
    ];

    public static TheoryData<string> Charts => ["loss", "accuracy", "throughput"];

    private static byte[] Render(string chart, int width, int height, bool empty = false) => chart switch
    {
        "loss" => Plots.Loss(empty ? [] : Epochs, width, height),
        "accuracy" => Plots.Accuracy(empty ? [] : Epochs, width, height),
        _ => Plots.Throughput(empty ? [] : Throughput, width, height),
    };

    [Theory]
    [MemberData(nameof(Charts))]
    public void Each_chart_is_a_png_of_the_asked_size_with_something_drawn(string chart)
    {
        PngImage.Decode(Render(chart, Plots.Width, Plots.Height)).AssertIsChart(Plots.Width, Plots.Height);
        PngImage.Decode(Render(chart, 400, 300)).AssertIsChart(400, 300);
    }

    [Fact]
    public void The_fast_png_holds_the_same_pixels_as_scottplots_own_encoding()
    {
        static ScottPlot.Plot Chart()
        {
            var plot = new ScottPlot.Plot();
            plot.Add.Scatter(Epochs.Select(r => (double)r.Epoch).ToArray(), Epochs.Select(r => r.TrainLoss).ToArray());
            plot.Title("loss");
            return plot;
        }
        using var a = Chart();
        using var b = Chart();
        using var ours = SkiaSharp.SKBitmap.Decode(Plots.Png(a, 640, 400));
        using var theirs = SkiaSharp.SKBitmap.Decode(b.GetImageBytes(640, 400, ScottPlot.ImageFormat.Png));
        Assert.Equal((theirs.Width, theirs.Height), (ours.Width, ours.Height));
        Assert.Equal(theirs.Pixels, ours.Pixels);
    }

    [Theory]
    [MemberData(nameof(Charts))]
    public void A_run_without_data_yet_still_gets_titled_axes(string chart) =>
        PngImage.Decode(Render(chart, 640, 400, empty: true)).AssertIsChart(640, 400);

    [Fact]
    public void A_diverged_epoch_does_not_stop_the_others_being_drawn()
    {
        MetricsRow[] epochs = [Epochs[0], Epochs[1] with { TrainLoss = double.NaN, TestLoss = double.PositiveInfinity }, Epochs[2]];
        PngImage.Decode(Plots.Loss(epochs)).AssertIsChart(Plots.Width, Plots.Height);
    }

    [Fact]
    public void Plot_renders_the_three_pngs_from_a_run_directory()
    {
        var dir = RunDirectory();
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(ExitCodes.Ok, PlotCommand.Run(dir, output, error));
        Assert.Equal("", error.ToString());
        Assert.Contains("wrote Loss.png, Metrics.png and Workers.png", output.ToString());
        foreach (var png in new[] { RunPlots.LossFile, RunPlots.MetricsFile, RunPlots.WorkersFile })
            PngImage.Read(Path.Combine(dir, png)).AssertIsChart(Plots.Width, Plots.Height);
    }

    [Fact]
    public void Plot_falls_back_to_metrics_jsonl_when_the_csv_is_gone()
    {
        var dir = RunDirectory();
        File.Delete(Path.Combine(dir, RunFiles.MetricsCsv));
        Assert.Equal(ExitCodes.Ok, PlotCommand.Run(dir, TextWriter.Null, TextWriter.Null));
        Assert.True(File.Exists(Path.Combine(dir, RunPlots.LossFile)));
    }

    public static TheoryData<string, string?, string> BadInputs => new()
    {
        // file to damage, its new content (null: delete it), the file the error must name
        { RunFiles.MetricsCsv, "epoch,train_loss\n", RunFiles.MetricsCsv },
        { RunFiles.MetricsCsv, RunFiles.MetricsCsvHeader + "\n1,x,0.9,0.4,0.92,13.5,4321.5,2,0.05\n", RunFiles.MetricsCsv },
        { RunFiles.ThroughputCsv, null, RunFiles.ThroughputCsv },
        { RunFiles.ThroughputCsv, "seconds,worker,images_per_second\n1,w1\n", RunFiles.ThroughputCsv },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Plot_names_the_bad_file_in_one_line_exits_1_and_writes_nothing(string file, string? content, string named)
    {
        var dir = RunDirectory();
        if (content is null) File.Delete(Path.Combine(dir, file));
        else File.WriteAllText(Path.Combine(dir, file), content);
        var before = Snapshot(dir);
        var error = new StringWriter();

        Assert.Equal(ExitCodes.Usage, PlotCommand.Run(dir, TextWriter.Null, error));
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {Path.Combine(dir, named)}: ", line);
        Assert.Equal(before, Snapshot(dir));
    }

    [Fact]
    public void Plot_of_a_directory_without_metrics_or_of_no_directory_at_all_is_refused()
    {
        var empty = Repository.NewTempDirectory("empty-run");
        var error = new StringWriter();
        Assert.Equal(ExitCodes.Usage, PlotCommand.Run(empty, TextWriter.Null, error));
        Assert.Equal($"error: {Path.Combine(empty, RunFiles.MetricsCsv)}: missing (and no metrics.jsonl either)", error.ToString().Trim());
        Assert.Empty(Directory.GetFileSystemEntries(empty));

        var nowhere = Path.Combine(empty, "nope");
        error = new StringWriter();
        Assert.Equal(ExitCodes.Usage, PlotCommand.Run(nowhere, TextWriter.Null, error));
        Assert.Equal($"error: {nowhere}: no such run directory", error.ToString().Trim());
        Assert.False(Directory.Exists(nowhere));
    }

    private static string RunDirectory()
    {
        var dir = Repository.NewTempDirectory("plot");
        var files = new RunFiles(dir);
        foreach (var e in new[] { 1, 2, 3 }) files.AppendEpoch(MetricsFilesTests.Epoch(e, trainLoss: 1.0 / e, testLoss: 0.8 / e));
        files.WriteThroughput(Throughput);
        return dir;
    }

    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.GetFiles(dir).ToDictionary(f => Path.GetFileName(f),
            f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));
}
