using SkiaSharp;

namespace DataParallel.Tests.Support;

/// <summary>What a test needs to know of a PNG: its size, and whether anything was drawn on it.</summary>
public sealed record PngImage(int Width, int Height, int Colors, double Ink)
{
    public static PngImage Read(string path) => Decode(File.ReadAllBytes(path));

    public static PngImage Decode(byte[] bytes)
    {
        Assert.True(bytes.Length > 8 && bytes[..8].SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }),
            "not a PNG signature");
        using var bitmap = SKBitmap.Decode(bytes) ?? throw new Xunit.Sdk.XunitException("the PNG does not decode");
        var background = bitmap.GetPixel(0, 0);
        var colors = new HashSet<SKColor>();
        long ink = 0;
        for (var y = 0; y < bitmap.Height; y++)
            for (var x = 0; x < bitmap.Width; x++)
            {
                var pixel = bitmap.GetPixel(x, y);
                colors.Add(pixel);
                if (pixel != background) ink++;
            }
        return new PngImage(bitmap.Width, bitmap.Height, colors.Count, (double)ink / (bitmap.Width * bitmap.Height));
    }

    /// <summary>A chart, not a blank page: several colours (lines, text, grid) and a fair share of drawn pixels.</summary>
    public void AssertIsChart(int width, int height)
    {
        Assert.Equal((width, height), (Width, Height));
        Assert.True(Colors >= 8, $"only {Colors} colours: blank?");
        Assert.True(Ink > 0.01, $"only {Ink:P2} of the pixels differ from the background: blank?");
    }
}
