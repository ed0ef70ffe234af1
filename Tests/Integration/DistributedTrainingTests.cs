using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

[Collection(ProcessCollection.Name)]
public sealed class DistributedTrainingTests
{
    // 1,536 images: 12 steps of 128, in micro-batches of 32 (4 per step, so 3 workers share unevenly).
    private static readonly string[] Small =
        ["--epochs", "1", "--limit-train", "1536", "--limit-test", "500", "--micro-batch", "32", "--threads-per-worker", "1"];

    [Fact]
    public void Two_worker_processes_train_an_epoch_on_real_mnist()
    {
        var run = TrainRuns.Train(["--workers", "2", "--threads-per-worker", "1", "--epochs", "1", "--limit-train", "6400", "--limit-test", "2000"]);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Matches(@"Epoch: 01 \| m_mnist_accuracy: \d+\.\d\d% \| loss: \d\.\d{4} \| test_accuracy: \d+\.\d\d%", run.Stdout);
        Assert.Contains("worker local-1 joined", run.Stdout);
        Assert.Contains("worker local-2 joined", run.Stdout);
        Assert.Contains("workers: 2 (local-1: ", run.Stdout);
        var accuracy = run.Result.GetProperty("test_accuracy").GetDouble();
        Assert.True(accuracy >= 0.90, $"test accuracy {accuracy:P2} after one epoch on 6,400 images");
        Assert.Equal(run.Sha256, run.Result.GetProperty("sha256").GetString());
    }

    [Fact]
    public void Final_parameters_do_not_depend_on_how_many_workers_ran_or_where()
    {
        // One worker in the coordinator's process, two and three worker processes.
        var one = TrainRuns.Train(["--workers", "1", "--in-process", .. Small]);
        var two = TrainRuns.Train(["--workers", "2", .. Small]);
        var three = TrainRuns.Train(["--workers", "3", .. Small]);
        foreach (var run in new[] { one, two, three })
            Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Contains("workers: 3", three.Stdout);
        Assert.Equal(one.Sha256, two.Sha256);
        Assert.Equal(one.Sha256, three.Sha256);
    }

    [Fact]
    public void A_different_seed_gives_different_parameters()
    {
        var a = TrainRuns.Train(["--workers", "1", "--in-process", "--seed", "1", .. Small]);
        var b = TrainRuns.Train(["--workers", "1", "--in-process", "--seed", "2", .. Small]);
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(0, b.ExitCode);
        Assert.NotEqual(a.Sha256, b.Sha256);
    }

    [Fact]
    public void Parameter_averaging_mode_trains_and_is_reproducible()
    {
        // 30 steps: enough for BatchNorm's running statistics to settle.
        string[] args =
        [
            "--workers", "2", "--sync", "params", "--local-steps", "3", "--epochs", "1", "--limit-train", "3840", "--limit-test", "1000",
            "--threads-per-worker", "1",
        ];
        var a = TrainRuns.Train(args);
        var b = TrainRuns.Train(["--in-process", .. args]);
        Assert.True(a.ExitCode == 0, a.Stderr + a.Stdout);
        Assert.Contains("sync params, 2 replicas x 64 images, 3 local step(s) per round", a.Stdout);
        Assert.Equal(a.Sha256, b.Sha256);
        Assert.True(a.Result.GetProperty("test_accuracy").GetDouble() > 0.8, a.Stdout);
    }
}
