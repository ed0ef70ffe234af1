using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>
/// Dropout whose mask comes from a generator owned by the model, not from libtorch's process-wide one,
/// so two replicas in one process never share random state and every mask is a function of the seed
/// the caller put into <see cref="Generator"/>.
/// </summary>
/// <remarks>
/// The mask is cut from 16-bit slices of 48-bit random numbers: three elements per number the generator draws, where
/// <c>bernoulli_</c> draws one per element on a serial loop (6% of a training step's CPU). An element is dropped when
/// its slice is below <c>round(p * 65536)</c>, so the rate is p to within 1/131072 (0.1 becomes 6554/65536 =
/// 0.1000061), and kept elements are scaled by the inverse of that exact rate's complement. The slices are laid over
/// the input's memory order, as <c>bernoulli_</c> on <c>empty_like(input)</c> did.
/// </remarks>
public sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private const int SlicesPerDraw = 3;
    private const double DrawRange = 1L << (16 * SlicesPerDraw);

    private readonly double _p;
    // Behind a holder, not in tensor fields: a module's tensor fields are registered as buffers and would enter the
    // state dict. Made once, not on every forward pass.
    private readonly Slicing _slicing;
    // Held for the module's life: a temporary Scalar can be finalized while libtorch still reads it (see BatchNorm2d).
    private readonly Scalar _scale;

    public SeededDropout(double p, string name = "Dropout") : base(name)
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), "dropout probability must be in [0, 1)");
        _p = p;
        var dropped = (int)Math.Round(p * 65536);
        // Slice k of a draw is below `dropped` exactly when the draw's bits 16k to 16k + 15, left in place, are below
        // dropped << 16k: one AND and one comparison per element, no shifts.
        var shifts = Enumerable.Range(0, SlicesPerDraw).Select(k => 16 * k).ToArray();
        // Held for the module's life, so out of any dispose scope its builder may have open.
        _slicing = new Slicing(
            tensor(shifts.Select(b => 0xFFFFL << b).ToArray(), [1, SlicesPerDraw]).DetachFromDisposeScope(),
            tensor(shifts.Select(b => (long)dropped << b).ToArray(), [1, SlicesPerDraw]).DetachFromDisposeScope());
        _scale = (65536.0 / (65536 - dropped)).ToScalar();
    }

    /// <summary>The rate at which elements are dropped: p rounded to a multiple of 1/65536.</summary>
    public double EffectiveRate => Math.Round(_p * 65536) / 65536;

    public Generator? Generator { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (!training || _p == 0) return input.alias();
        if (Generator is null) throw new InvalidOperationException("SeededDropout needs a generator in training mode");
        var strides = DenseStrides(input);
        var count = input.numel();
        var draws = (count + SlicesPerDraw - 1) / SlicesPerDraw;
        using var scope = NewDisposeScope();
        // Uniform in [0, 2^48): three uniform 16-bit slices, element 3i + k taking bits 16k to 16k + 15 of draw i.
        var random = empty(draws, ScalarType.Int64).random_(0, DrawRange, Generator);
        var slices = random.unsqueeze(1).bitwise_and(_slicing.Masks);
        // One multiplication by the scaled mask, not two (mask, then scale): a mask element is 0 or 1, so
        // x * (m * s) and (x * m) * s round alike, in the forward pass and in the gradient.
        var mask = slices.ge(_slicing.KeepFrom).reshape(-1).narrow(0, 0, count).to(ScalarType.Float32).mul_(_scale);
        return input.mul(mask.as_strided(input.shape, strides)).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _scale.Dispose();
            _slicing.Masks.Dispose();
            _slicing.KeepFrom.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>Per slice k of a draw: the mask of its bits, and the first of those values that keeps an element.</summary>
    private sealed record Slicing(Tensor Masks, Tensor KeepFrom);

    /// <summary>The input's strides, when they lay its elements densely in some order (NCHW or NHWC).</summary>
    private static long[] DenseStrides(Tensor input)
    {
        var shape = input.shape;
        var strides = input.stride();
        var order = Enumerable.Range(0, shape.Length).Where(d => shape[d] != 1).OrderBy(d => strides[d]).ToArray();
        long expected = 1;
        foreach (var d in order)
        {
            if (strides[d] != expected) throw new ArgumentException($"dropout needs a dense input, got strides [{string.Join(", ", strides)}]");
            expected *= shape[d];
        }
        return strides;
    }
}
