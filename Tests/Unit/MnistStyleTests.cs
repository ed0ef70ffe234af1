using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Data;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class MnistStyleTests
{
    private const int Side = MnistDataset.Side;

    /// <summary>An MNIST test image blown up <paramref name="factor"/> times (each pixel a square), as 0-1 grayscale.</summary>
    private static float[] Enlarged(ReadOnlySpan<byte> image, int factor, bool darkOnLight = false)
    {
        var size = Side * factor;
        var gray = new float[size * size];
        for (var y = 0; y < size; y++)
            for (var x = 0; x < size; x++)
            {
                var v = image[y / factor * Side + x / factor] / 255f;
                gray[y * size + x] = darkOnLight ? 1 - v : v;
            }
        return gray;
    }

    private static double Correlation(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        double ma = 0, mb = 0;
        for (var i = 0; i < a.Length; i++) { ma += a[i]; mb += b[i]; }
        ma /= a.Length; mb /= b.Length;
        double ab = 0, aa = 0, bb = 0;
        for (var i = 0; i < a.Length; i++) { ab += (a[i] - ma) * (b[i] - mb); aa += (a[i] - ma) * (a[i] - ma); bb += (b[i] - mb) * (b[i] - mb); }
        return ab / Math.Sqrt(aa * bb);
    }

    private static (int Left, int Top, int Right, int Bottom) InkBox(ReadOnlySpan<byte> image, byte threshold = 64)
    {
        int left = Side, top = Side, right = -1, bottom = -1;
        for (var i = 0; i < image.Length; i++)
        {
            if (image[i] <= threshold) continue;
            int x = i % Side, y = i / Side;
            left = Math.Min(left, x); right = Math.Max(right, x); top = Math.Min(top, y); bottom = Math.Max(bottom, y);
        }
        return (left, top, right, bottom);
    }

    [Fact]
    public void An_MNIST_digit_enlarged_four_times_comes_back_as_itself()
    {
        var test = Repository.Test;
        var correlations = Enumerable.Range(0, 100)
            .Select(i => Correlation(test.Image(i), MnistStyle.FromGrayscale(Enlarged(test.Image(i), 4), Side * 4, Side * 4)))
            .ToList();
        // Measured: 99 of 100 at 0.99 or more; image 63 lands one pixel off MNIST's own centring (0.81).
        Assert.True(correlations.Count(c => c > 0.98) >= 95, "correlations with the originals: "
            + string.Join(" ", correlations.Select(c => c.ToString("F2", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.True(correlations.Min() > 0.75,
            $"lowest correlation with the original {correlations.Min():F3} (image {correlations.IndexOf(correlations.Min())})");
    }

    [Fact]
    public void Dark_ink_on_light_paper_is_inverted_to_MNISTs_white_on_black()
    {
        var image = Repository.Test.Image(0);
        var light = MnistStyle.FromGrayscale(Enlarged(image, 3), Side * 3, Side * 3);
        var dark = MnistStyle.FromGrayscale(Enlarged(image, 3, darkOnLight: true), Side * 3, Side * 3);
        Assert.True(light.Zip(dark).All(p => Math.Abs(p.First - p.Second) <= 1), "the two polarities give different images");
        Assert.Equal(0, dark[0]);
    }

    [Fact]
    public void A_small_off_centre_digit_on_a_large_page_is_fitted_to_20_pixels_and_centred_by_mass()
    {
        // A dark 'L' 30 pixels wide and 60 high near the top-left corner of a 400x300 gray page.
        const int width = 400, height = 300;
        var page = Enumerable.Repeat(0.8f, width * height).ToArray();
        for (var y = 20; y < 80; y++)
            for (var x = 30; x < 60; x++)
                if (x < 40 || y >= 70) page[y * width + x] = 0.1f;

        var digit = MnistStyle.FromGrayscale(page, width, height);
        var (left, top, right, bottom) = InkBox(digit);
        Assert.Equal(20, bottom - top + 1);
        Assert.Equal(10, right - left + 1);
        var (cx, cy) = MnistStyle.CentreOfMass(digit);
        Assert.InRange(cx, 13.5, 14.5);
        Assert.InRange(cy, 13.5, 14.5);
        Assert.Equal(255, digit.Max());
    }

    [Fact]
    public void A_tiny_digit_is_enlarged_to_fill_the_box()
    {
        var page = new float[50 * 50];
        for (var y = 20; y < 25; y++) page[y * 50 + 30] = 1; // a one-pixel-wide stroke 5 high: a '1'
        var digit = MnistStyle.FromGrayscale(page, 50, 50);
        var (left, top, right, bottom) = InkBox(digit);
        Assert.Equal(20, bottom - top + 1);
        Assert.Equal(4, right - left + 1); // the aspect ratio is kept: the stroke grows with the digit
    }

    [Fact]
    public void A_blank_page_has_no_digit()
    {
        Assert.Throws<NoDigitException>(() => MnistStyle.FromGrayscale(Enumerable.Repeat(1f, 64).ToArray(), 8, 8));
        Assert.Throws<NoDigitException>(() => MnistStyle.FromGrayscale(Enumerable.Repeat(0.5f, 64).ToArray(), 8, 8));
        Assert.Throws<ArgumentException>(() => MnistStyle.FromGrayscale(new float[10], 8, 8));
    }
}
