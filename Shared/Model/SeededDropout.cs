using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>
/// Dropout whose mask comes from a generator owned by the model, not from libtorch's process-wide one,
/// so two replicas in one process never share random state and every mask is a function of the seed
/// the caller put into <see cref="Generator"/>.
/// </summary>
public sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private readonly double _p;
    // Held for the module's life: a temporary Scalar can be finalized while libtorch still reads it (see BatchNorm2d).
    private readonly Scalar _scale;

    public SeededDropout(double p, string name = "Dropout") : base(name)
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), "dropout probability must be in [0, 1)");
        _p = p;
        _scale = (1.0 / (1 - p)).ToScalar();
    }

    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || _p == 0) return input.alias();
        if (Generator is null) throw new InvalidOperationException("SeededDropout needs a generator in training mode");
        // One multiplication by the scaled mask, not two (mask, then scale): a mask element is 0 or 1, so
        // x * (m * s) and (x * m) * s round alike, in the forward pass and in the gradient; one pass and one
        // autograd node fewer.
        using var mask = empty_like(input).bernoulli_(1 - _p, Generator).mul_(_scale);
        return input.mul(mask);
    }
}
