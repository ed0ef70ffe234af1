using DataParallel.Coordinator.Reporting;

namespace DataParallel.Tests.Unit;

public sealed class EpochProgressTests
{
    private static StepCompleted Step(int epoch, int step, double loss, int examples, int epochExamples, double seconds, int alive = 2) =>
        new(epoch, step, 10, loss, examples, epochExamples, seconds, alive, 0.1);

    [Fact]
    public void Shows_steps_running_loss_speed_time_left_and_workers()
    {
        var p = EpochProgress.Start(epochs: 15).WithWorkers(2, 2)
            .After(Step(1, 0, 2.0, 100, 100, 1.0))
            .After(Step(1, 1, 1.0, 300, 400, 2.0));
        Assert.Equal("epoch 01/15", p.Title);
        Assert.Equal(1.25, p.RunningLoss, 12);
        Assert.Equal(200, p.ImagesPerSecond, 12);
        Assert.Equal(TimeSpan.FromSeconds(8), p.Remaining);
        Assert.Equal("step 2/10 | loss 1.2500 | 200 img/s | ETA 0:08 | workers 2/2", p.Status);
    }

    [Fact]
    public void A_new_epoch_starts_the_running_loss_again_and_a_lost_worker_shows_at_once()
    {
        var p = EpochProgress.Start(2).WithWorkers(2, 2).After(Step(1, 9, 3.0, 100, 1000, 10));
        Assert.True(p.Evaluating);
        Assert.Contains("evaluating on the test set", p.Status);
        p = p.After(Step(2, 0, 0.5, 100, 100, 0.5)).WithWorkers(1, 2);
        Assert.Equal(0.5, p.RunningLoss);
        Assert.EndsWith("workers 1/2", p.Status);
        Assert.Equal("epoch 02/02", p.Title);
    }

    [Fact]
    public void Hours_long_epochs_show_hours()
    {
        var p = EpochProgress.Start(1).After(Step(1, 0, 1, 10, 10, 3600));
        Assert.Contains("ETA 9:00:00", p.Status);
        Assert.EndsWith("workers 2", p.Status); // before any worker event, the expected count is unknown
    }
}
