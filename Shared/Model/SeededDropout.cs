using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
/// libtorch draws the numbers; the mask is cut from them here (<see cref="CutMask"/>), in one pass over vectors,
/// where four libtorch operations (AND, compare, convert, scale) took about 3% of a micro-batch's CPU.
/// </remarks>
public sealed class SeededDropout : nn.Module<Tensor, Tensor>
{
    private const int SlicesPerDraw = 3;
    private const double DrawRange = 1L << (16 * SlicesPerDraw);

    private readonly double _p;
    private readonly uint _dropped;
    private readonly float _scale;

    public SeededDropout(double p, string name = "Dropout") : base(name)
    {
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), "dropout probability must be in [0, 1)");
        _p = p;
        _dropped = (uint)Math.Round(p * 65536);
        // What libtorch's mul_ of a float tensor by this double makes of a 1: it multiplies floats in float.
        _scale = (float)(65536.0 / (65536 - _dropped));
    }

    /// <summary>The rate at which elements are dropped: p rounded to a multiple of 1/65536.</summary>
    public double EffectiveRate => Math.Round(_p * 65536) / 65536;

    public Generator? Generator { get; set; }

    // A mask drawn ahead by DrawMask, for the next forward pass only.
    private Tensor? _prepared;

    /// <summary>
    /// Draws from <see cref="Generator"/> the mask for an input of <paramref name="count"/> elements, exactly as a
    /// forward pass in training mode would at this point of the generator's stream (null when nothing is dropped).
    /// The caller owns the tensor; <see cref="UseNext"/> hands it to the next forward pass.
    /// </summary>
    public Tensor? DrawMask(long count)
    {
        if (_p == 0) return null;
        if (Generator is null) throw new InvalidOperationException("SeededDropout needs a generator in training mode");
        var draws = (count + SlicesPerDraw - 1) / SlicesPerDraw;
        using var scope = NewDisposeScope();
        // Uniform in [0, 2^48): three uniform 16-bit slices, element 3i + k taking bits 16k to 16k + 15 of draw i.
        var random = empty(draws, ScalarType.Int64).random_(0, DrawRange, Generator);
        // One element more than the draws cover: CutMask writes four lanes per draw.
        var mask = empty(draws * SlicesPerDraw + 1, ScalarType.Float32);
        CutMask(MemoryMarshal.Cast<byte, long>(random.bytes), MemoryMarshal.Cast<byte, float>(mask.bytes), _dropped, _scale);
        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>The mask the next forward pass in training mode uses instead of drawing one (null: it draws).</summary>
    public void UseNext(Tensor? mask) => _prepared = mask;

    public override Tensor forward(Tensor input)
    {
        if (!training || _p == 0) return input.alias();
        var strides = DenseStrides(input);
        var count = input.numel();
        using var scope = NewDisposeScope();
        var mask = _prepared ?? DrawMask(count)!;
        _prepared = null;
        if (mask.numel() != (count + SlicesPerDraw - 1) / SlicesPerDraw * SlicesPerDraw + 1)
            throw new InvalidOperationException($"a dropout mask of {mask.numel()} elements for an input of {count}");
        // One multiplication by the scaled mask, not two (mask, then scale): a mask element is 0 or 1, so
        // x * (m * s) and (x * m) * s round alike, in the forward pass and in the gradient.
        return input.mul(mask.narrow(0, 0, count).as_strided(input.shape, strides)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mask element 3i + k is <paramref name="scale"/> when bits 16k to 16k + 15 of draw i are at least
    /// <paramref name="dropped"/>, else 0. On a little-endian machine those bits are the draw's 16-bit word k, so
    /// the four words of a draw (the fourth is 0: draws are below 2^48) become four lanes stored at 3i, and the next
    /// draw's store overwrites the fourth. <paramref name="mask"/> holds at least 3 x draws + 1 elements.
    /// </summary>
    public static void CutMask(ReadOnlySpan<long> draws, Span<float> mask, uint dropped, float scale)
    {
        if (mask.Length < SlicesPerDraw * draws.Length + 1)
            throw new ArgumentException($"{mask.Length} mask elements for {draws.Length} draws");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the dropout mask assumes a little-endian machine");
        var words = MemoryMarshal.Cast<long, ushort>(draws);
        var threshold = Vector256.Create(dropped);
        var scaleBits = Vector256.Create(BitConverter.SingleToUInt32Bits(scale));
        ref var target = ref MemoryMarshal.GetReference(mask);
        var i = 0;
        for (; i + 4 <= draws.Length; i += 4)
        {
            var (low, high) = Vector256.Widen(Vector256.Create<ushort>(words.Slice(4 * i, 16)));
            var lowLanes = Vector256.GreaterThanOrEqual(low, threshold) & scaleBits;
            var highLanes = Vector256.GreaterThanOrEqual(high, threshold) & scaleBits;
            lowLanes.GetLower().AsSingle().StoreUnsafe(ref target, (nuint)(3 * i));
            lowLanes.GetUpper().AsSingle().StoreUnsafe(ref target, (nuint)(3 * i + 3));
            highLanes.GetLower().AsSingle().StoreUnsafe(ref target, (nuint)(3 * i + 6));
            highLanes.GetUpper().AsSingle().StoreUnsafe(ref target, (nuint)(3 * i + 9));
        }
        for (; i < draws.Length; i++)
            for (var k = 0; k < SlicesPerDraw; k++)
                mask[3 * i + k] = words[4 * i + k] >= dropped ? scale : 0f;
    }

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
