using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DataParallel.Shared.Model;

/// <summary>
/// The seed model's evaluation-mode ReLU, BatchNorm and 2x2 average pooling on channels-last activations, fused into
/// one pass over memory where libtorch makes two or three, and computing the same bits as libtorch 2.10's CPU kernels:
/// <list type="bullet">
/// <item>ReLU is <c>clamp_min(x, 0)</c>: <c>0 &gt; x ? 0 : x</c>, so -0 and NaN pass through as they are;</item>
/// <item>BatchNorm with running statistics is <c>x * alpha + beta</c> per channel, alpha and beta computed in float as
/// <c>batch_norm_cpu_collect_linear_and_constant_terms</c> does (<see cref="AffineTerms"/>);</item>
/// <item>pooling sums a window's four values from 0, row by row, and divides by 4 (<c>cpu_avg_pool2d_channels_last</c>);
/// an odd last row or column is left out.</item>
/// </list>
/// <c>InferenceKernelsTests</c> compares every output bit with libtorch's. Only for inference: nothing here records
/// an autograd graph.
/// </summary>
public static class InferenceKernels
{
    /// <summary>
    /// Per channel, alpha = weight / sqrt(var + eps) and beta = bias - mean * alpha, in float, the last as one fused
    /// multiply-add: libtorch's build contracts it so (and <c>x * alpha + beta</c> below), and a separate multiply and
    /// add differ from it by one unit in the last place now and then (measured: the tests fail without the fusion).
    /// </summary>
    public static void AffineTerms(ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias, double eps, Span<float> alpha, Span<float> beta)
    {
        for (var c = 0; c < alpha.Length; c++)
        {
            var invstd = 1f / MathF.Sqrt(variance[c] + (float)eps);
            alpha[c] = invstd * weight[c];
            beta[c] = MathF.FusedMultiplyAdd(-mean[c], alpha[c], bias[c]);
        }
    }

    /// <summary>BatchNorm(ReLU(x)) in place on NHWC memory.</summary>
    public static void ReluAffine(Span<float> nhwc, ReadOnlySpan<float> alpha, ReadOnlySpan<float> beta)
    {
        var channels = alpha.Length;
        Check(channels, nhwc.Length);
        Span<Vector256<float>> terms = stackalloc Vector256<float>[2 * (channels / Vector256<float>.Count)];
        Terms(alpha, beta, terms);
        ref var data = ref MemoryMarshal.GetReference(nhwc);
        // Pixel by pixel, every channel of a pixel before the next: one pass over memory.
        for (nuint i = 0, end = (nuint)nhwc.Length; i < end; i += (nuint)channels)
            for (var k = 0; k < terms.Length; k += 2)
            {
                var at = i + (nuint)(k / 2 * Vector256<float>.Count);
                Apply(Vector256.LoadUnsafe(ref data, at), terms[k], terms[k + 1]).StoreUnsafe(ref data, at);
            }
    }

    /// <summary>
    /// AvgPool2d(2)(BatchNorm(ReLU(x))) from NHWC memory [n, height, width, channels] into NHWC memory
    /// [n, height / 2, width / 2, channels].
    /// </summary>
    public static void ReluAffinePool2(ReadOnlySpan<float> nhwc, int n, int height, int width, ReadOnlySpan<float> alpha,
        ReadOnlySpan<float> beta, Span<float> pooled)
    {
        var channels = alpha.Length;
        Check(channels, nhwc.Length);
        var (outHeight, outWidth) = (height / 2, width / 2);
        if (nhwc.Length != n * height * width * channels || pooled.Length != n * outHeight * outWidth * channels)
            throw new ArgumentException($"{nhwc.Length} inputs and {pooled.Length} outputs for [{n}, {height}, {width}, {channels}] pooled by 2");
        Span<Vector256<float>> terms = stackalloc Vector256<float>[2 * (channels / Vector256<float>.Count)];
        Terms(alpha, beta, terms);
        ref var input = ref MemoryMarshal.GetReference(nhwc);
        ref var output = ref MemoryMarshal.GetReference(pooled);
        var four = Vector256.Create(4f);
        var row = (nuint)(width * channels);
        var pixel = (nuint)channels;
        var o = (nuint)0;
        for (var image = 0; image < n; image++)
        for (var oh = 0; oh < outHeight; oh++)
        {
            var i = (nuint)((image * height + 2 * oh) * width * channels);
            for (var ow = 0; ow < outWidth; ow++, i += 2 * pixel, o += pixel)
            for (var k = 0; k < terms.Length; k += 2)
            {
                var c = (nuint)(k / 2 * Vector256<float>.Count);
                var (a, b) = (terms[k], terms[k + 1]);
                var sum = Vector256<float>.Zero + Apply(Vector256.LoadUnsafe(ref input, i + c), a, b);
                sum += Apply(Vector256.LoadUnsafe(ref input, i + c + pixel), a, b);
                sum += Apply(Vector256.LoadUnsafe(ref input, i + c + row), a, b);
                sum += Apply(Vector256.LoadUnsafe(ref input, i + c + row + pixel), a, b);
                (sum / four).StoreUnsafe(ref output, o + c);
            }
        }
    }

    // Per block of 8 channels: its alpha vector, then its beta vector.
    private static void Terms(ReadOnlySpan<float> alpha, ReadOnlySpan<float> beta, Span<Vector256<float>> terms)
    {
        for (var k = 0; k < terms.Length; k += 2)
        {
            terms[k] = Vector256.Create(alpha.Slice(k / 2 * Vector256<float>.Count, Vector256<float>.Count));
            terms[k + 1] = Vector256.Create(beta.Slice(k / 2 * Vector256<float>.Count, Vector256<float>.Count));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Apply(Vector256<float> x, Vector256<float> alpha, Vector256<float> beta)
    {
        var relu = Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256<float>.Zero, x), Vector256<float>.Zero, x);
        return Vector256.FusedMultiplyAdd(relu, alpha, beta);
    }

    private static void Check(int channels, int length)
    {
        if (channels % Vector256<float>.Count != 0 || length % channels != 0)
            throw new ArgumentException($"{channels} channels over {length} values: need a multiple of {Vector256<float>.Count} channels");
    }
}
