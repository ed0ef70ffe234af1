using DataParallel.Shared.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Tests.Unit;

/// <summary>
/// The dropout mask is cut from 16-bit slices of the generator's 48-bit draws. These tests redraw the same numbers
/// from a second generator with the same seed and rebuild the mask in plain C#, element by element.
/// </summary>
public sealed class SeededDropoutTests
{
    private static float[] Forward(SeededDropout dropout, Tensor input, long seed)
    {
        using var generator = new Generator((ulong)seed);
        dropout.Generator = generator;
        using var output = dropout.call(input);
        // Read in the input's memory order: the mask is laid over memory, not over the logical index.
        using var memory = output.as_strided([input.numel()], [1]);
        return memory.data<float>().ToArray();
    }

    private static bool[] ReferenceKeep(long seed, long count, double p)
    {
        using var generator = new Generator((ulong)seed);
        using var draws = empty((count + 2) / 3, ScalarType.Int64).random_(0, 1L << 48, generator);
        var values = draws.data<long>().ToArray();
        var dropped = (int)Math.Round(p * 65536);
        return Enumerable.Range(0, (int)count).Select(i => ((values[i / 3] >> (16 * (i % 3))) & 0xFFFF) >= dropped).ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_mask_is_the_draws_16_bit_slices_in_memory_order(bool channelsLast)
    {
        // 4 x 16 x 7 x 7 = 3,136 elements: not a multiple of 3, so the last draw is used in part.
        using var dropout = new SeededDropout(0.1);
        using var nchw = ones(4, 16, 7, 7);
        using var input = channelsLast ? ChannelsLast.Of(nchw) : nchw.alias();
        var output = Forward(dropout, input, seed: 42);
        var keep = ReferenceKeep(42, input.numel(), 0.1);
        var scale = (float)(65536.0 / (65536 - 6554));
        Assert.Equal(keep.Select(k => k ? scale : 0f).ToArray(), output);
        Assert.InRange(keep.Count(k => !k), 200, 430);
    }

    [Fact]
    public void Every_length_gets_the_mask_of_its_draws_however_its_draws_fall_into_vectors_and_the_tail()
    {
        // Four draws (12 elements) per vector step, the rest one by one, the last draw used in part or in whole.
        using var dropout = new SeededDropout(0.5);
        for (var count = 1; count <= 40; count++)
        {
            using var input = ones(count);
            var keep = ReferenceKeep(count, count, 0.5);
            Assert.Equal(keep.Select(k => k ? 2f : 0f).ToArray(), Forward(dropout, input, seed: count));
        }
    }

    [Fact]
    public void The_drop_rate_is_p_to_within_1_in_131072()
    {
        using var dropout = new SeededDropout(0.1);
        Assert.Equal(6554.0 / 65536, dropout.EffectiveRate);
        using var input = ones(1_000_000);
        var output = Forward(dropout, input, seed: 7);
        var rate = output.Count(v => v == 0) / 1e6;
        Assert.InRange(rate, 0.0985, 0.1015);
        // The kept elements are scaled so that the expectation is the input: mean over a million within 0.3%.
        Assert.InRange(output.Average(), 0.997, 1.003);
    }

    [Fact]
    public void The_same_seed_gives_the_same_mask_and_another_seed_another()
    {
        using var dropout = new SeededDropout(0.25);
        using var input = ones(2, 16, 14, 14);
        Assert.Equal(Forward(dropout, input, 3), Forward(dropout, input, 3));
        Assert.NotEqual(Forward(dropout, input, 3), Forward(dropout, input, 4));
    }

    [Fact]
    public void The_gradient_is_the_scaled_mask_and_evaluation_passes_the_input_through()
    {
        using var dropout = new SeededDropout(0.1);
        using var generator = new Generator(5);
        dropout.Generator = generator;
        using var input = ones(3, 16, 3, 3).requires_grad_();
        using var output = dropout.call(input);
        output.sum().backward();
        Assert.Equal(output.data<float>().ToArray(), input.grad!.data<float>().ToArray());

        dropout.eval();
        using var passed = dropout.call(input);
        Assert.Equal(input.data<float>().ToArray(), passed.data<float>().ToArray());
    }

    [Fact]
    public void A_strided_input_that_is_not_dense_is_refused()
    {
        using var dropout = new SeededDropout(0.1);
        using var generator = new Generator(1);
        dropout.Generator = generator;
        using var wide = ones(2, 16, 8, 8);
        using var sliced = wide.narrow(3, 0, 4);
        Assert.Throws<ArgumentException>(() => dropout.call(sliced));
    }

    [Fact]
    public void A_mask_drawn_ahead_is_the_one_the_forward_pass_would_draw_and_serves_one_pass()
    {
        using var dropout = new SeededDropout(0.1);
        using var nchw = ones(4, 16, 7, 7);
        using var input = ChannelsLast.Of(nchw);
        using var generator = new Generator(42);
        dropout.Generator = generator;
        using var mask = dropout.DrawMask(input.numel())!;
        dropout.UseNext(mask);
        generator.manual_seed(999); // the prepared mask is used, not the generator's next numbers
        using var prepared = dropout.call(input);
        using var memory = prepared.as_strided([input.numel()], [1]);
        var preparedMask = memory.data<float>().ToArray();
        var next = Forward(dropout, input, seed: 43); // nothing prepared is left: drawn from its generator
        using var fresh = new SeededDropout(0.1);
        Assert.Equal(Forward(fresh, input, seed: 42), preparedMask);
        Assert.Equal(Forward(fresh, input, seed: 43), next);
        Assert.NotEqual(preparedMask, next);
    }

    [Fact]
    public void A_mask_drawn_for_another_size_is_refused()
    {
        using var dropout = new SeededDropout(0.1);
        using var generator = new Generator(1);
        dropout.Generator = generator;
        using var mask = dropout.DrawMask(3 * 16 * 7 * 7)!;
        dropout.UseNext(mask);
        using var input = ones(4, 16, 7, 7);
        Assert.Throws<InvalidOperationException>(() => dropout.call(input));
    }
}
