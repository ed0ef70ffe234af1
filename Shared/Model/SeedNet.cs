using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace DataParallel.Shared.Model;

/// <summary>
/// The seed model: 13,032 parameters. Three blocks of Conv3x3-ReLU-BN-Conv3x3-ReLU-BN-AvgPool2-Dropout at
/// 16 channels (28 -> 14 -> 7 -> 3), then Conv1x1 to 10 channels, ReLU, Linear(90, 10) and LogSoftmax.
/// </summary>
public sealed class SeedNet : Module<Tensor, Tensor>
{
    public const int Channels = 16;
    public const int Classes = 10;
    public const double DefaultDropout = 0.1;

    // Declared in call order: RegisterComponents registers them in this order, which fixes the state dict's.
    private readonly Conv2d conv1;
    private readonly Module<Tensor, Tensor> relu1, bn1;
    private readonly Conv2d conv2;
    private readonly Module<Tensor, Tensor> relu2, bn2, pool1;
    private readonly SeededDropout drop1;
    private readonly Conv2d conv3;
    private readonly Module<Tensor, Tensor> relu3, bn3;
    private readonly Conv2d conv4;
    private readonly Module<Tensor, Tensor> relu4, bn4, pool2;
    private readonly SeededDropout drop2;
    private readonly Conv2d conv5;
    private readonly Module<Tensor, Tensor> relu5, bn5;
    private readonly Conv2d conv6;
    private readonly Module<Tensor, Tensor> relu6, bn6, pool3;
    private readonly SeededDropout drop3;
    private readonly Conv2d conv7;
    private readonly Module<Tensor, Tensor> relu7, flatten, fc, logSoftmax;

    /// <summary>
    /// libtorch initializes new layers from its one global generator. Whoever seeds it to get a model of its own
    /// (<c>TrainingRun.Create</c>) holds this lock from the seed to the last layer, and every SeedNet is built under
    /// it: a model built on another thread in between would draw numbers from the generator and change the first.
    /// </summary>
    public static readonly object GlobalGeneratorGate = new();

    /// <summary>
    /// Seeds libtorch's global generator and builds <paramref name="build"/>'s model from it, both under
    /// <see cref="GlobalGeneratorGate"/>: the one way to get a model that is a function of a seed while other threads
    /// build models or seed the generator themselves (a seed set outside the gate can land between another
    /// caller's seed and its layers).
    /// </summary>
    public static T Seeded<T>(long seed, Func<T> build)
    {
        lock (GlobalGeneratorGate)
        {
            torch.manual_seed(seed);
            return build();
        }
    }

    private readonly bool _channelsLast;

    /// <summary>Whether activations are computed in channels-last memory (<see cref="ChannelsLast"/>).</summary>
    public bool IsChannelsLast => _channelsLast;

    public SeedNet(double dropout = DefaultDropout, bool channelsLast = true) : base(nameof(SeedNet))
    {
        _channelsLast = channelsLast;
        lock (GlobalGeneratorGate)
        {
            conv1 = Conv2d(1, Channels, 3, padding: 1); relu1 = ReLU(inplace: true); bn1 = new BatchNorm2d(Channels);
            conv2 = Conv2d(Channels, Channels, 3, padding: 1); relu2 = ReLU(inplace: true); bn2 = new BatchNorm2d(Channels);
            pool1 = AvgPool2d(2); drop1 = new SeededDropout(dropout);

            conv3 = Conv2d(Channels, Channels, 3, padding: 1); relu3 = ReLU(inplace: true); bn3 = new BatchNorm2d(Channels);
            conv4 = Conv2d(Channels, Channels, 3, padding: 1); relu4 = ReLU(inplace: true); bn4 = new BatchNorm2d(Channels);
            pool2 = AvgPool2d(2); drop2 = new SeededDropout(dropout);

            conv5 = Conv2d(Channels, Channels, 3, padding: 1); relu5 = ReLU(inplace: true); bn5 = new BatchNorm2d(Channels);
            conv6 = Conv2d(Channels, Channels, 3, padding: 1); relu6 = ReLU(inplace: true); bn6 = new BatchNorm2d(Channels);
            pool3 = AvgPool2d(2); drop3 = new SeededDropout(dropout);

            conv7 = Conv2d(Channels, Classes, 1); relu7 = ReLU(inplace: true);
            flatten = Flatten(); fc = Linear(Classes * 3 * 3, Classes); logSoftmax = LogSoftmax(1);
        }
        RegisterComponents();
    }

    /// <summary>The generator every dropout layer draws its masks from (training mode only).</summary>
    public void UseGenerator(Generator generator)
    {
        drop1.Generator = generator;
        drop2.Generator = generator;
        drop3.Generator = generator;
    }

    /// <summary>
    /// The three dropout masks a forward pass in training mode over <paramref name="images"/> images draws, in its
    /// order, from the generator of <see cref="UseGenerator"/>: drawn ahead, they depend on the generator's seed and
    /// nothing else (null entries: no dropout). <see cref="UseMasks"/> hands them to the next forward pass.
    /// </summary>
    public Tensor?[] DrawMasks(int images)
    {
        var masks = new Tensor?[3];
        var side = Data.MnistDataset.Side;
        var layers = new[] { drop1, drop2, drop3 };
        for (var i = 0; i < layers.Length; i++)
        {
            side /= 2; // each block ends with a 2 x 2 average pool, then its dropout
            masks[i] = layers[i].DrawMask((long)images * Channels * side * side);
        }
        return masks;
    }

    /// <summary>The masks the next forward pass in training mode uses instead of drawing them (see <see cref="DrawMasks"/>).</summary>
    public void UseMasks(IReadOnlyList<Tensor?> masks)
    {
        drop1.UseNext(masks[0]);
        drop2.UseNext(masks[1]);
        drop3.UseNext(masks[2]);
    }

    /// <summary>
    /// A convolution, on channels-last weights in a channels-last model: libtorch then gives its
    /// output, and so every layer after it, channels-last strides, and oneDNN skips the reorders between
    /// layouts around each convolution. The weight itself stays a contiguous parameter, so its gradient,
    /// the state dict and everything that reads them are unchanged.
    /// </summary>
    private Tensor Conv(Conv2d conv, Tensor x)
    {
        if (!_channelsLast) return conv.call(x);
        var weight = ChannelsLast.Of(conv.weight!);
        return nn.functional.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups);
    }

    public override Tensor forward(Tensor x)
    {
        // Inference without autograd: ReLU, BatchNorm and pooling fused (the same bits, fewer passes over memory).
        if (_channelsLast && !training && !is_grad_enabled()) return ForwardInference(x);
        // The images (one channel) are re-strided, not copied: then conv1 convolves channels-last and every BatchNorm
        // sees one layout forwards and backwards (a mix sends the backward down a slow element-wise path).
        if (_channelsLast) x = ChannelsLast.Of(x);
        x = Conv(conv1, x);
        x = relu1.call(x);
        x = bn1.call(x);
        x = Conv(conv2, x);
        x = relu2.call(x);
        x = bn2.call(x);
        x = pool1.call(x);
        x = drop1.call(x);

        x = Conv(conv3, x);
        x = relu3.call(x);
        x = bn3.call(x);
        x = Conv(conv4, x);
        x = relu4.call(x);
        x = bn4.call(x);
        x = pool2.call(x);
        x = drop2.call(x);

        x = Conv(conv5, x);
        x = relu5.call(x);
        x = bn5.call(x);
        x = Conv(conv6, x);
        x = relu6.call(x);
        x = bn6.call(x);
        x = pool3.call(x);
        x = drop3.call(x);

        return Head(x);
    }

    private Tensor Head(Tensor x)
    {
        x = Conv(conv7, x);
        x = relu7.call(x);
        x = flatten.call(x);
        x = fc.call(x);
        return logSoftmax.call(x);
    }

    /// <summary>
    /// <see cref="forward"/> in evaluation mode without autograd: each block's ReLU and BatchNorm run in place in one
    /// pass (<see cref="InferenceKernels"/>), and its second ReLU, BatchNorm and pooling in one more, where libtorch
    /// makes five; dropout passes its input through. The same bits (<c>InferenceKernelsTests</c>). Evaluation of the
    /// 10,000 test images on one thread (bench/ReplicaBench, passes of 100): 0.55-0.57 s against 0.70-0.74 s.
    /// </summary>
    private Tensor ForwardInference(Tensor x)
    {
        x = ChannelsLast.Of(x);
        x = InferenceBlock(x, conv1, bn1, conv2, bn2);
        x = InferenceBlock(x, conv3, bn3, conv4, bn4);
        x = InferenceBlock(x, conv5, bn5, conv6, bn6);
        return Head(x);
    }

    private Tensor InferenceBlock(Tensor x, Conv2d first, Module<Tensor, Tensor> firstNorm, Conv2d second, Module<Tensor, Tensor> secondNorm)
    {
        Span<float> alpha = stackalloc float[Channels];
        Span<float> beta = stackalloc float[Channels];
        x = Conv(first, x);
        ((BatchNorm2d)firstNorm).InferenceTerms(alpha, beta);
        InferenceKernels.ReluAffine(Nhwc(x), alpha, beta);
        x = Conv(second, x);
        ((BatchNorm2d)secondNorm).InferenceTerms(alpha, beta);
        var (n, height, width) = ((int)x.shape[0], (int)x.shape[2], (int)x.shape[3]);
        var pooled = empty([n, height / 2, width / 2, Channels]);
        InferenceKernels.ReluAffinePool2(Nhwc(x), n, height, width, alpha, beta, MemoryMarshal.Cast<byte, float>(pooled.bytes));
        return pooled.permute(0, 3, 1, 2);
    }

    /// <summary>The memory of a channels-last activation, in NHWC order (a convolution's output always is).</summary>
    private static Span<float> Nhwc(Tensor channelsLast)
    {
        var nhwc = channelsLast.permute(0, 2, 3, 1);
        if (!nhwc.is_contiguous() || nhwc.dtype != ScalarType.Float32 || nhwc.device_type != DeviceType.CPU)
            throw new InvalidOperationException(
                $"expected a dense channels-last float activation, got strides [{string.Join(", ", channelsLast.stride())}]");
        return MemoryMarshal.Cast<byte, float>(nhwc.bytes);
    }
}
