using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>
/// BatchNorm2d with PyTorch's parameters, buffers and state-dict names, computing exactly what TorchSharp's does
/// (the same <c>F.batch_norm</c> call). It exists because TorchSharp 0.107's module counts batches with
/// <c>num_batches_tracked.add_(1)</c>, which builds two temporary <see cref="Scalar"/>s, reads their native
/// handles and drops them: the GC may finalize them, on its own thread, while libtorch is still reading them.
/// Measured here: a worker failed once in about 7,000 micro-batches with "Unknown scalar type" or "For integral
/// input tensors, argument alpha must not be a floating point number" (see dotnet/TorchSharp#1434).
/// Here the counter is incremented through the tensor's memory, with no Scalar at all.
/// </summary>
public sealed class BatchNorm2d : nn.Module<Tensor, Tensor>
{
    private const double Momentum = 0.1;
    private const double Epsilon = 1e-5;

    private readonly Parameter _weight;
    private readonly Parameter _bias;
    private readonly Tensor _runningMean;
    private readonly Tensor _runningVar;
    private readonly Tensor _batchesTracked;

    public BatchNorm2d(int features) : base(nameof(BatchNorm2d))
    {
        _weight = new Parameter(ones(features));
        _bias = new Parameter(zeros(features));
        _runningMean = zeros(features);
        _runningVar = ones(features);
        _batchesTracked = tensor(0L);
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
        register_buffer("running_mean", _runningMean);
        register_buffer("running_var", _runningVar);
        register_buffer("num_batches_tracked", _batchesTracked);
    }

    /// <summary>Evaluation mode's per-channel scale and shift, as libtorch computes them (<see cref="InferenceKernels.AffineTerms"/>).</summary>
    public void InferenceTerms(Span<float> alpha, Span<float> beta) =>
        InferenceKernels.AffineTerms(Floats(_runningMean), Floats(_runningVar), Floats(_weight), Floats(_bias), Epsilon, alpha, beta);

    private static ReadOnlySpan<float> Floats(Tensor vector) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(vector.bytes);

    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4) throw new ArgumentException($"BatchNorm2d expects [N, C, H, W] input, got {input.dim()} dimensions");
        if (training)
        {
            var counter = _batchesTracked.data<long>();
            counter.CopyFrom([counter.ToArray()[0] + 1]);
        }
        return nn.functional.batch_norm(input, _runningMean, _runningVar, _weight, _bias, training, Momentum, Epsilon);
    }
}
