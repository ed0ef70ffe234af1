using SkiaSharp;

namespace DataParallel.Coordinator.Inference;

/// <summary>An image file that cannot be read as a digit: missing, not an image, or blank.</summary>
public sealed class DigitImageException(string message) : Exception(message);

/// <summary>A PNG or JPEG file read as grayscale and brought into MNIST's form (<see cref="MnistStyle"/>).</summary>
public static class DigitImage
{
    /// <summary>28x28 bytes, white digit on black, centred as MNIST's; throws <see cref="DigitImageException"/> naming the file.</summary>
    public static byte[] Read(string path)
    {
        if (!File.Exists(path)) throw new DigitImageException($"{path}: no such image file");
        SKBitmap? bitmap;
        try
        {
            using var stream = File.OpenRead(path);
            using var codec = SKCodec.Create(stream);
            bitmap = codec is null ? null : SKBitmap.Decode(codec);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DigitImageException($"{path}: cannot read it ({e.Message})");
        }
        if (bitmap is null) throw new DigitImageException($"{path}: not a PNG or JPEG image (cannot decode it)");
        using (bitmap)
        {
            try { return MnistStyle.FromGrayscale(Grayscale(bitmap), bitmap.Width, bitmap.Height); }
            catch (NoDigitException e) { throw new DigitImageException($"{path}: {e.Message}"); }
        }
    }

    /// <summary>Luminance from 0 (black) to 1 (white); transparent parts count as white paper.</summary>
    public static float[] Grayscale(SKBitmap bitmap)
    {
        var gray = new float[bitmap.Width * bitmap.Height];
        for (var y = 0; y < bitmap.Height; y++)
            for (var x = 0; x < bitmap.Width; x++)
            {
                var p = bitmap.GetPixel(x, y);
                var luminance = (0.299f * p.Red + 0.587f * p.Green + 0.114f * p.Blue) / 255f;
                var alpha = p.Alpha / 255f;
                gray[y * bitmap.Width + x] = alpha * luminance + (1 - alpha);
            }
        return gray;
    }
}
