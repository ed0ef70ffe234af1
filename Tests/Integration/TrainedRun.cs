using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>
/// One short real run shared by the tests of what a run leaves behind (model files, evaluate, predict): 2 epochs
/// on the first 6,000 training images, tested on the first 1,000 (about 95% accurate). Tests only read its directory.
/// </summary>
public static class TrainedRun
{
    public const int TestImages = 1000;

    private static readonly Lazy<TrainRuns.Outcome> Run = new(() =>
    {
        var run = TrainRuns.Train(["--in-process", "--workers", "1", "--threads-per-worker", "1", "--epochs", "2",
            "--limit-train", "6000", "--limit-test", TestImages.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        return run;
    });

    public static TrainRuns.Outcome Value => Run.Value;

    public static string PathOf(string name) => Path.Combine(Value.RunDirectory, name);

    /// <summary>Test images the run classified correctly, from its result.json.</summary>
    public static int Correct => (int)Math.Round(Value.Result.GetProperty("test_accuracy").GetDouble() * TestImages);
}
