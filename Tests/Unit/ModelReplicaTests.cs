using DataParallel.Shared.Model;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class ModelReplicaTests
{
    private static (float[] Parameters, float[] Buffers) Initial()
    {
        using var r = SeedNet.Seeded(3, () => new ModelReplica());
        return (r.ReadParameters(), r.ReadBuffers());
    }

    private static (byte[] Images, byte[] Labels) Batch(int start, int count) =>
        Repository.Train.Gather(Enumerable.Range(start, count).ToArray());

    [Fact]
    public void Gradients_are_a_function_of_their_inputs_alone()
    {
        var (p, b) = Initial();
        var (images, labels) = Batch(0, 32);
        using var first = new ModelReplica();
        using var second = new ModelReplica();
        first.Load(p, b);
        second.Load(p, b);
        // Different history on one replica must not leak into the next result.
        first.ComputeGradients(b, Batch(100, 32).Images, Batch(100, 32).Labels, 5, 6, Augmentation.Light);
        var a = first.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light);
        var c = second.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light);
        Assert.Equal(a.Gradients, c.Gradients);
        Assert.Equal(a.Buffers, c.Buffers);
        Assert.Equal(a.Loss, c.Loss);
        Assert.Contains(a.Gradients, g => g != 0);
    }

    [Fact]
    public void Channels_last_computes_the_same_function_as_nchw_in_other_bits()
    {
        var (p, b) = Initial();
        var (images, labels) = Batch(0, 64);
        // Without dropout: a mask is drawn in memory order, so the same seed drops other activations in another layout.
        using var nchw = new ModelReplica(dropout: 0, channelsLast: false);
        using var last = new ModelReplica(dropout: 0, channelsLast: true);
        Assert.True(last.Model.IsChannelsLast && !nchw.Model.IsChannelsLast);
        nchw.Load(p, b);
        last.Load(p, b);
        var a = nchw.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light);
        var c = last.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light);
        // The same maths, not the same rounding: libtorch's channels-last BatchNorm sums its statistics in plain float
        // order over N x H x W (50,176 values per channel in the first block), its NCHW kernel more accurately. The
        // statistics differ in the fifth digit, and the backward pass through six BatchNorms amplifies that to about
        // 1% in the first layers' gradients at initialization (1 against 2 threads in NCHW: about 3e-6).
        static double Relative(float[] x, float[] y) =>
            Math.Sqrt(x.Zip(y).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)) / x.Sum(v => (double)v * v));
        Assert.True(Relative(a.Gradients, c.Gradients) < 5e-2, $"gradients differ by {Relative(a.Gradients, c.Gradients):E2} relative");
        Assert.True(Relative(a.Buffers, c.Buffers) < 1e-3, $"buffers differ by {Relative(a.Buffers, c.Buffers):E2} relative");
        Assert.Equal(a.Loss, c.Loss, 1e-5f);
        Assert.Equal(a.Correct, c.Correct);
        // ...in other kernels, so not to the bit: which is why the layout is a setting every worker of a run shares.
        Assert.NotEqual(a.Gradients, c.Gradients);
        // And each layout is deterministic on its own.
        using var again = new ModelReplica(dropout: 0, channelsLast: true);
        again.Load(p, b);
        Assert.Equal(c.Gradients, again.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light).Gradients);
    }

    [Fact]
    public void Dropout_and_augmentation_follow_their_seeds()
    {
        var (p, b) = Initial();
        var (images, labels) = Batch(0, 32);
        using var r = new ModelReplica();
        r.Load(p, b);
        var baseline = r.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light);
        Assert.NotEqual(baseline.Gradients, r.ComputeGradients(b, images, labels, 1, 3, Augmentation.Light).Gradients);
        Assert.NotEqual(baseline.Gradients, r.ComputeGradients(b, images, labels, 9, 2, Augmentation.Light).Gradients);
        Assert.Equal(baseline.Gradients, r.ComputeGradients(b, images, labels, 1, 2, Augmentation.Light).Gradients);
    }

    [Fact]
    public void Forward_pass_updates_batchnorm_running_statistics()
    {
        var (p, b) = Initial();
        var (images, labels) = Batch(0, 16);
        using var r = new ModelReplica();
        r.Load(p, b);
        var result = r.ComputeGradients(b, images, labels, 1, 2, Augmentation.None);
        Assert.NotEqual(b, result.Buffers);
        // num_batches_tracked of the first BatchNorm went from 0 to 1
        Assert.Equal(b[32] + 1, result.Buffers[32]);
    }

    [Fact]
    public void Evaluation_sums_loss_and_counts_correct_predictions()
    {
        var (p, b) = Initial();
        using var r = new ModelReplica();
        r.Load(p, b);
        var test = Repository.Test;
        var whole = r.Evaluate(test.Images[..(200 * 784)], test.Labels[..200]);
        var half1 = r.Evaluate(test.Images[..(100 * 784)], test.Labels[..100]);
        var half2 = r.Evaluate(test.Images[(100 * 784)..(200 * 784)], test.Labels[100..200]);
        Assert.Equal(200, whole.Count);
        Assert.Equal(whole.Correct, half1.Correct + half2.Correct);
        Assert.Equal(whole.LossSum, half1.LossSum + half2.LossSum, 3);
        Assert.InRange(whole.LossSum / 200, 1.5, 3.5); // an untrained 10-class model: about ln 10
    }
}
