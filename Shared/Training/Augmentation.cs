using static TorchSharp.torch;

namespace DataParallel.Shared.Training;

/// <summary>Light affine augmentation: each image rotated by up to ±Degrees and shifted by up to Translate of its size.</summary>
public sealed record Augmentation(double Degrees, double Translate)
{
    public static readonly Augmentation None = new(0, 0);
    public static readonly Augmentation Light = new(7, 0.1);

    public bool Enabled => Degrees > 0 || Translate > 0;

    /// <summary>
    /// One affine warp per image of a [N, 1, H, W] batch in [0, 1], with zero (black) background. The angles
    /// and shifts are drawn in C# from <paramref name="seed"/>, so they do not depend on libtorch's generators.
    /// </summary>
    public Tensor Apply(Tensor images, ulong seed)
    {
        var n = (int)images.shape[0];
        var random = new DeterministicRandom(seed);
        var theta = new float[n * 6];
        for (var i = 0; i < n; i++)
        {
            var angle = random.NextDouble(-Degrees, Degrees) * Math.PI / 180;
            // affine_grid works in [-1, 1] coordinates: a shift of a fraction f of the image is 2f.
            var tx = 2 * random.NextDouble(-Translate, Translate);
            var ty = 2 * random.NextDouble(-Translate, Translate);
            var (sin, cos) = Math.SinCos(angle);
            theta[i * 6 + 0] = (float)cos;
            theta[i * 6 + 1] = (float)-sin;
            theta[i * 6 + 2] = (float)tx;
            theta[i * 6 + 3] = (float)sin;
            theta[i * 6 + 4] = (float)cos;
            theta[i * 6 + 5] = (float)ty;
        }
        using var thetaTensor = tensor(theta, [n, 2, 3]);
        using var grid = nn.functional.affine_grid(thetaTensor, images.shape, align_corners: false);
        return nn.functional.grid_sample(images, grid, align_corners: false);
    }
}
