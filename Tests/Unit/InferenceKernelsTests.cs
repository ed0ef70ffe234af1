using System.Runtime.InteropServices;
using DataParallel.Shared.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Tests.Unit;

/// <summary>
/// The fused evaluation kernels against libtorch's own ReLU, BatchNorm and average pooling, bit for bit, on
/// channels-last activations of the seed model's shapes (the odd 7 x 7 included) and on values that probe rounding:
/// negatives, zeros of both signs, large and tiny magnitudes.
/// </summary>
public sealed class InferenceKernelsTests
{
    private sealed record Norm(Tensor Mean, Tensor Variance, Tensor Weight, Tensor Bias) : IDisposable
    {
        public void Dispose()
        {
            Mean.Dispose();
            Variance.Dispose();
            Weight.Dispose();
            Bias.Dispose();
        }
    }

    private static Norm RandomNorm(Generator g, int channels) => new(
        randn(channels, generator: g).mul_(0.5),
        rand(channels, generator: g).mul_(2).add_(1e-4),
        randn(channels, generator: g),
        randn(channels, generator: g).mul_(0.2));

    private static Tensor Activations(Generator g, long n, long h, long w)
    {
        var x = randn([n, SeedNet.Channels, h, w], generator: g).mul_(3);
        // Exact zeros of both signs and extreme magnitudes, where a different rounding or ReLU would show.
        var flat = x.view(-1);
        flat[0] = tensor(0f);
        flat[1] = tensor(-0f);
        flat[2] = tensor(1e-30f);
        flat[3] = tensor(-1e30f);
        flat[4] = tensor(3e38f);
        return ChannelsLast.Of(x);
    }

    private static float[] Floats(Tensor t) => t.contiguous().data<float>().ToArray();

    private static (float[] Alpha, float[] Beta) Terms(Norm norm)
    {
        var alpha = new float[SeedNet.Channels];
        var beta = new float[SeedNet.Channels];
        InferenceKernels.AffineTerms(Floats(norm.Mean), Floats(norm.Variance), Floats(norm.Weight), Floats(norm.Bias), 1e-5, alpha, beta);
        return (alpha, beta);
    }

    private static float[] Nhwc(Tensor channelsLast) => Floats(channelsLast.permute(0, 2, 3, 1));

    private static int[] Bits(float[] values) => MemoryMarshal.Cast<float, int>(values).ToArray();

    private static Tensor Reference(Tensor x, Norm norm) =>
        nn.functional.batch_norm(nn.functional.relu(x), norm.Mean, norm.Variance, norm.Weight, norm.Bias, false, 0.1, 1e-5);

    [Theory]
    [InlineData(4, 28)]
    [InlineData(3, 14)]
    [InlineData(5, 7)]
    public void Relu_then_batch_norm_in_place_has_libtorchs_bits(int n, int side)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(n * 100 + side));
        using var norm = RandomNorm(g, SeedNet.Channels);
        var x = Activations(g, n, side, side);
        var expected = Nhwc(Reference(x, norm));
        var (alpha, beta) = Terms(norm);
        var actual = Nhwc(x);
        InferenceKernels.ReluAffine(actual, alpha, beta);
        Assert.Equal(Bits(expected), Bits(actual));
    }

    [Theory]
    [InlineData(4, 28)]
    [InlineData(3, 14)]
    [InlineData(5, 7)]
    public void Relu_batch_norm_and_pooling_have_libtorchs_bits(int n, int side)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(n * 10 + side));
        using var norm = RandomNorm(g, SeedNet.Channels);
        var x = Activations(g, n, side, side);
        var expected = Nhwc(nn.functional.avg_pool2d(Reference(x, norm), 2));
        var (alpha, beta) = Terms(norm);
        var pooled = new float[n * (side / 2) * (side / 2) * SeedNet.Channels];
        InferenceKernels.ReluAffinePool2(Nhwc(x), n, side, side, alpha, beta, pooled);
        Assert.Equal(Bits(expected), Bits(pooled));
    }

    [Fact]
    public void The_models_inference_forward_has_the_bits_of_its_autograd_forward_on_real_images()
    {
        // Trained-looking statistics: every BatchNorm's running mean, variance and affine terms drawn at random.
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        using var net = SeedNet.Seeded(11, () => new SeedNet());
        using (no_grad())
            foreach (var (name, tensor) in net.state_dict())
                if (name.Contains("running_var")) tensor.copy_(rand(tensor.shape, generator: g).add_(0.5));
                else if (name.Contains("running_mean") || name.Contains("bias")) tensor.copy_(randn(tensor.shape, generator: g).mul_(0.3));
        net.eval();
        var (images, _) = Support.Repository.Test.Gather(Enumerable.Range(0, 50).ToArray());
        var x = tensor(images, [50, 1, 28, 28], ScalarType.Byte).to_type(ScalarType.Float32).div_(255);
        var reference = Floats(net.call(x));          // grad mode on: libtorch's ReLU, BatchNorm and pooling
        float[] fused;
        using (inference_mode()) fused = Floats(net.call(x));
        Assert.Equal(Bits(reference), Bits(fused));
        Assert.Contains(reference, v => v < -1e-3);  // real log-probabilities, not a degenerate constant
    }

    [Fact]
    public void Channels_that_do_not_fill_vectors_are_refused()
    {
        var values = new float[12];
        Assert.Throws<ArgumentException>(() => InferenceKernels.ReluAffine(values, new float[12], new float[12]));
    }
}
