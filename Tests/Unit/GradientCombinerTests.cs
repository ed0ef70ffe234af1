using DataParallel.Shared.Training;

namespace DataParallel.Tests.Unit;

public sealed class GradientCombinerTests
{
    private static GradientResult Result(int seed, int count)
    {
        var random = new DeterministicRandom((ulong)seed);
        float[] Vector(int n) => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble(-1, 1) * 1e3f).ToArray();
        return new GradientResult(Vector(1000), Vector(10), seed, seed % 5, count);
    }

    [Fact]
    public void Combination_does_not_depend_on_arrival_order()
    {
        var results = Enumerable.Range(0, 6).Select(i => Result(i + 1, 32)).ToArray();
        var inOrder = new GradientCombiner(6);
        for (var i = 0; i < 6; i++) inOrder.Add(i, results[i]);
        var shuffled = new GradientCombiner(6);
        foreach (var i in new[] { 4, 1, 5, 0, 3, 2 }) shuffled.Add(i, results[i]);
        var a = inOrder.Combine();
        var b = shuffled.Combine();
        Assert.Equal(a.Gradients, b.Gradients);
        Assert.Equal(a.Buffers, b.Buffers);
        Assert.Equal(a.Loss, b.Loss);
    }

    [Fact]
    public void Gradients_are_averaged_by_example_count()
    {
        var combiner = new GradientCombiner(2);
        combiner.Add(0, new GradientResult([1f, 2f], [10f], Loss: 1f, Correct: 3, Count: 3));
        combiner.Add(1, new GradientResult([4f, 8f], [20f], Loss: 2f, Correct: 1, Count: 1));
        var c = combiner.Combine();
        Assert.Equal(new[] { 1.75f, 3.5f }, c.Gradients);
        Assert.Equal(new[] { 12.5f }, c.Buffers);
        Assert.Equal(1.25, c.Loss, 12);
        Assert.Equal(4, c.Correct);
        Assert.Equal(4, c.Count);
    }

    [Fact]
    public void A_second_result_for_the_same_micro_batch_is_refused()
    {
        var combiner = new GradientCombiner(2);
        Assert.True(combiner.Add(1, Result(1, 8)));
        Assert.False(combiner.Add(1, Result(2, 8)));
        Assert.Equal(1, combiner.Received);
        Assert.False(combiner.Complete);
        Assert.Throws<InvalidOperationException>(() => combiner.Combine());
        Assert.Throws<ArgumentOutOfRangeException>(() => combiner.Add(2, Result(3, 8)));
    }
}
