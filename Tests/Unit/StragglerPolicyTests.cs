using DataParallel.Coordinator.Training;

namespace DataParallel.Tests.Unit;

public sealed class StragglerPolicyTests
{
    [Fact]
    public void A_unit_is_late_at_a_multiple_of_its_workers_share_of_the_step()
    {
        // 8 micro-batches on 2 workers: each computes 4 in a row, 50 ms each; 4x that is 800 ms.
        Assert.Equal(TimeSpan.FromMilliseconds(800), StragglerPolicy.Deadline(TimeSpan.FromMilliseconds(100), 4, 50, 8, 2));
    }

    [Fact]
    public void Never_earlier_than_the_minimum_nor_before_anything_was_measured()
    {
        Assert.Equal(TimeSpan.FromSeconds(2), StragglerPolicy.Deadline(TimeSpan.FromSeconds(2), 4, 30, 2, 2));
        Assert.Equal(TimeSpan.FromSeconds(2), StragglerPolicy.Deadline(TimeSpan.FromSeconds(2), 4, 0, 2, 0));
    }
}
