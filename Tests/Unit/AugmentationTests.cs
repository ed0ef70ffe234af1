using DataParallel.Shared.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Tests.Unit;

public sealed class AugmentationTests
{
    // Thetas as Augmentation.Apply makes them, and wider ones (a quarter turn, half the image's shift).
    private static float[] Thetas(int n, ulong seed, double degrees, double translate)
    {
        var random = new DeterministicRandom(seed);
        var theta = new float[n * 6];
        for (var i = 0; i < n; i++)
        {
            var (sin, cos) = Math.SinCos(random.NextDouble(-degrees, degrees) * Math.PI / 180);
            theta[6 * i] = (float)cos;
            theta[6 * i + 1] = (float)-sin;
            theta[6 * i + 2] = (float)(2 * random.NextDouble(-translate, translate));
            theta[6 * i + 3] = (float)sin;
            theta[6 * i + 4] = (float)cos;
            theta[6 * i + 5] = (float)(2 * random.NextDouble(-translate, translate));
        }
        return theta;
    }

    [Theory]
    [InlineData(64, 28, 28, 7, 0.1)]
    [InlineData(64, 28, 28, 90, 0.5)]
    [InlineData(3, 7, 5, 30, 0.2)]
    [InlineData(1, 1, 2, 45, 0.3)]
    public void The_affine_grid_is_libtorchs_to_the_bit(int n, int height, int width, double degrees, double translate)
    {
        for (ulong seed = 1; seed <= 20; seed++)
        {
            using var scope = NewDisposeScope();
            var theta = Thetas(n, seed, degrees, translate);
            var expected = nn.functional.affine_grid(tensor(theta, [n, 2, 3]), [n, 1, height, width], align_corners: false);
            var actual = Augmentation.AffineGrid(theta, n, height, width);
            Assert.Equal(expected.shape, actual.shape);
            Assert.Equal(Bits(expected), Bits(actual));
        }
    }

    [Fact]
    public void Augmented_images_are_what_libtorchs_own_grid_gives()
    {
        var (images, _) = Support.Repository.Train.Gather(Enumerable.Range(0, 64).ToArray());
        using var scope = NewDisposeScope();
        var x = tensor(images, [64, 1, 28, 28], ScalarType.Byte).to_type(ScalarType.Float32).div_(255f);
        var augmented = Augmentation.Light.Apply(x, 11);
        // The same thetas, through libtorch's affine_grid: Apply draws them from the seed in this order.
        var theta = Thetas(64, 11, Augmentation.Light.Degrees, Augmentation.Light.Translate);
        var grid = nn.functional.affine_grid(tensor(theta, [64, 2, 3]), x.shape, align_corners: false);
        var expected = nn.functional.grid_sample(x, grid, align_corners: false);
        Assert.Equal(Bits(expected), Bits(augmented));
        Assert.NotEqual(Bits(x), Bits(augmented));
    }

    [Fact]
    public void A_theta_of_the_wrong_length_is_refused() =>
        Assert.Throws<ArgumentException>(() => Augmentation.AffineGrid(new float[5], 1, 28, 28));

    private static int[] Bits(Tensor t) =>
        t.contiguous().data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
}
