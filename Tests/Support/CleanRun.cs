namespace DataParallel.Tests.Support;

/// <summary>The parameters of an undisturbed run, which every disturbed run below must end with.</summary>
public sealed class CleanRun
{
    /// <summary>2 epochs of 30 steps, 4 micro-batches of 32 per step.</summary>
    public static readonly string[] Settings =
        ["--epochs", "2", "--limit-train", "3840", "--limit-test", "500", "--micro-batch", "32", "--threads-per-worker", "1"];

    private readonly Lazy<string> _sha = new(() =>
    {
        var run = TrainRuns.Train(["--in-process", "--workers", "2", .. Settings]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return run.Sha256;
    });

    public string Sha256 => _sha.Value;
}
