using DataParallel.Coordinator.Reporting;

namespace DataParallel.Tests.Unit;

public sealed class ThroughputLogTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Each_closed_window_gives_images_per_second_per_worker_with_zero_for_idle_members()
    {
        var log = new ThroughputLog(S(1));
        log.Joined("w1", S(0.2));
        log.Joined("w2", S(0.3));
        log.Completed("w1", S(0.5), 32);
        log.Completed("w1", S(0.9), 32);
        log.Completed("w2", S(1.5), 32);
        log.Completed("w1", S(2.1), 32); // window 2 is still open at 2.5 s

        Assert.Equal(
            [new(1, "w1", 64), new(1, "w2", 0), new(2, "w1", 0), new(2, "w2", 32)],
            log.Samples(S(2.5)));
    }

    [Fact]
    public void A_worker_that_leaves_ends_its_line_and_one_that_comes_back_starts_a_new_one()
    {
        var log = new ThroughputLog(S(2));
        log.Joined("w1", S(0));
        log.Completed("w1", S(1), 10);
        log.Left("w1", S(2.5));
        log.Joined("w1", S(6.1));
        log.Completed("w1", S(7), 20);

        Assert.Equal([new(2, "w1", 5), new(4, "w1", 0), new(8, "w1", 10)], log.Samples(S(9)));
    }

    [Fact]
    public void At_the_end_the_last_window_counts_over_the_part_of_it_that_was_run()
    {
        // A whole run inside one window (a short run on a fast machine): nothing is closed before the end.
        var log = new ThroughputLog(S(1));
        log.Joined("w1", S(3.1));
        log.Joined("w2", S(3.2));
        log.Completed("w1", S(3.3), 64);
        log.Completed("w2", S(3.4), 64);
        log.Completed("w1", S(3.5), 64);
        Assert.Empty(log.Samples(S(3.75)));
        var final = log.Samples(S(3.75), final: true);
        Assert.Equal([("w1", 3.75), ("w2", 3.75)], final.Select(s => (s.Worker, s.Seconds)));
        Assert.Equal(128 / 0.75, final[0].ImagesPerSecond, 6);
        Assert.Equal(64 / 0.75, final[1].ImagesPerSecond, 6);

        // A worker that left in an earlier window has no sample for the last one; closed windows are as before.
        var longer = new ThroughputLog(S(1));
        longer.Joined("w1", S(0));
        longer.Joined("w2", S(0));
        longer.Completed("w2", S(0.5), 10);
        longer.Left("w2", S(1.5));
        longer.Completed("w1", S(2.5), 30);
        Assert.Equal([new(1, "w1", 0), new(1, "w2", 10), new(2, "w1", 0), new(2, "w2", 0), new(2.5, "w1", 60)],
            longer.Samples(S(2.5), final: true));
    }

    [Fact]
    public void Units_of_a_worker_never_announced_still_count()
    {
        var log = new ThroughputLog(S(1));
        log.Completed("late", S(3.5), 16);
        Assert.Equal([new(4, "late", 16)], log.Samples(S(4)));
        Assert.Empty(new ThroughputLog(S(1)).Samples(S(100)));
    }
}
