using DataParallel.Shared.Training;

namespace DataParallel.Tests.Unit;

public sealed class PlanTests
{
    [Fact]
    public void An_epoch_visits_every_example_once_in_a_seeded_order()
    {
        var plan = new EpochPlan(seed: 7, epoch: 1, examples: 1000, batchSize: 128, microBatchSize: 32);
        Assert.Equal(8, plan.Steps);
        var seen = Enumerable.Range(0, plan.Steps).SelectMany(s => plan.StepIndices(s).ToArray()).ToList();
        Assert.Equal(Enumerable.Range(0, 1000), seen.Order());
        Assert.NotEqual(Enumerable.Range(0, 1000), seen);

        var again = new EpochPlan(7, 1, 1000, 128, 32);
        Assert.Equal(seen, Enumerable.Range(0, again.Steps).SelectMany(s => again.StepIndices(s).ToArray()));
        var nextEpoch = new EpochPlan(7, 2, 1000, 128, 32);
        Assert.NotEqual(seen, Enumerable.Range(0, nextEpoch.Steps).SelectMany(s => nextEpoch.StepIndices(s).ToArray()));
    }

    [Fact]
    public void Micro_batches_tile_each_step_and_the_last_ones_are_short()
    {
        var plan = new EpochPlan(1, 1, examples: 1000, batchSize: 128, microBatchSize: 32);
        Assert.Equal(new[] { (0, 0, 32), (1, 32, 32), (2, 64, 32), (3, 96, 32) }, plan.MicroBatches(0).Select(m => (m.Index, m.Offset, m.Count)));
        // 1000 = 7 x 128 + 104: the last step has three full micro-batches and one of 8.
        Assert.Equal(new[] { 32, 32, 32, 8 }, plan.MicroBatches(7).Select(m => m.Count));
    }

    [Fact]
    public void Batch_must_be_a_multiple_of_the_micro_batch()
    {
        var e = Assert.Throws<ArgumentException>(() => new EpochPlan(1, 1, 100, 128, 48));
        Assert.Contains("batch size 128 is not a multiple of micro-batch size 48", e.Message);
    }

    [Fact]
    public void Derived_seeds_differ_by_every_coordinate()
    {
        var seeds = new HashSet<ulong>();
        foreach (var purpose in new[] { SeedPurpose.Augment, SeedPurpose.Dropout })
            for (var epoch = 1; epoch <= 3; epoch++)
                for (var step = 0; step < 10; step++)
                    for (var micro = 0; micro < 4; micro++)
                        Assert.True(seeds.Add(SeedSequence.Derive(1, purpose, epoch, step, micro)));
        Assert.Equal(SeedSequence.Derive(1, SeedPurpose.Dropout, 2, 3, 1), SeedSequence.Derive(1, SeedPurpose.Dropout, 2, 3, 1));
        Assert.NotEqual(SeedSequence.Derive(1, SeedPurpose.Dropout, 2, 3, 1), SeedSequence.Derive(2, SeedPurpose.Dropout, 2, 3, 1));
    }
}
