using DataParallel.Shared.Data;

namespace DataParallel.Coordinator.Inference;

/// <summary>An image that holds no digit to read: blank, or of a single colour.</summary>
public sealed class NoDigitException(string message) : Exception(message);

/// <summary>
/// Turns a grayscale picture of one digit, of any size and either polarity, into what MNIST's images are: a white
/// digit on black, its bounding box scaled (aspect kept, anti-aliased) to fit 20x20, placed in 28x28 so that its
/// centre of mass sits at the centre. That is how MNIST was made from NIST's scans (LeCun et al.).
/// </summary>
public static class MnistStyle
{
    public const int Box = 20;
    /// <summary>Ink below this share of the darkest-to-lightest range is paper noise, not part of the digit's box.</summary>
    private const float InkThreshold = 0.15f;
    /// <summary>Less contrast than this between paper and ink (on a 0-1 scale) is a blank image.</summary>
    private const float MinimumContrast = 0.1f;

    /// <param name="gray">Row by row, 0 black to 1 white.</param>
    /// <returns>28x28 bytes, row by row, 0 background to 255 ink.</returns>
    public static byte[] FromGrayscale(ReadOnlySpan<float> gray, int width, int height)
    {
        if (width < 1 || height < 1 || gray.Length != width * height)
            throw new ArgumentException($"{gray.Length} pixels for a {width}x{height} image");

        // The paper is what the border shows; MNIST's digits are light on dark, so dark ink on light paper is inverted.
        var paper = BorderMedian(gray, width, height);
        var invert = paper > 0.5f;
        var ink = new float[gray.Length];
        var strongest = 0f;
        for (var i = 0; i < ink.Length; i++)
        {
            var v = invert ? 1 - gray[i] : gray[i];
            ink[i] = v;
            strongest = Math.Max(strongest, v);
        }
        var background = invert ? 1 - paper : paper;
        var contrast = strongest - background;
        if (contrast < MinimumContrast)
            throw new NoDigitException($"no digit found: the image is blank (contrast {contrast:F2} between paper and ink)");
        for (var i = 0; i < ink.Length; i++) ink[i] = Math.Clamp((ink[i] - background) / contrast, 0, 1);

        // The digit's bounding box, scaled so that its longer side is 20 pixels.
        int left = width, right = -1, top = height, bottom = -1;
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                if (ink[y * width + x] > InkThreshold)
                {
                    left = Math.Min(left, x); right = Math.Max(right, x);
                    top = Math.Min(top, y); bottom = Math.Max(bottom, y);
                }
        int boxWidth = right - left + 1, boxHeight = bottom - top + 1;
        var scale = (double)Box / Math.Max(boxWidth, boxHeight);
        var outWidth = Math.Clamp((int)Math.Round(boxWidth * scale), 1, Box);
        var outHeight = Math.Clamp((int)Math.Round(boxHeight * scale), 1, Box);
        var digit = Resample(ink, width, left, top, boxWidth, boxHeight, outWidth, outHeight);

        // Shift (by whole pixels) so that the centre of mass lands on pixel (14, 14); what falls off the edge is lost.
        double mass = 0, cx = 0, cy = 0;
        for (var y = 0; y < outHeight; y++)
            for (var x = 0; x < outWidth; x++)
            {
                var v = digit[y * outWidth + x];
                mass += v; cx += v * x; cy += v * y;
            }
        var offsetX = (int)Math.Round(MnistDataset.Side / 2.0 - cx / mass);
        var offsetY = (int)Math.Round(MnistDataset.Side / 2.0 - cy / mass);
        var result = new byte[MnistDataset.ImageBytes];
        for (var y = 0; y < outHeight; y++)
            for (var x = 0; x < outWidth; x++)
            {
                int tx = x + offsetX, ty = y + offsetY;
                if (tx is < 0 or >= MnistDataset.Side || ty is < 0 or >= MnistDataset.Side) continue;
                result[ty * MnistDataset.Side + tx] = (byte)Math.Round(255 * Math.Clamp(digit[y * outWidth + x], 0, 1));
            }
        return result;
    }

    /// <summary>Centre of mass (x, y) of a 28x28 image, in pixel indices.</summary>
    public static (double X, double Y) CentreOfMass(ReadOnlySpan<byte> image)
    {
        double mass = 0, cx = 0, cy = 0;
        for (var i = 0; i < image.Length; i++)
        {
            mass += image[i];
            cx += image[i] * (i % MnistDataset.Side);
            cy += image[i] * (i / MnistDataset.Side);
        }
        return mass == 0 ? (double.NaN, double.NaN) : (cx / mass, cy / mass);
    }

    private static float BorderMedian(ReadOnlySpan<float> gray, int width, int height)
    {
        var border = new List<float>(2 * (width + height));
        for (var x = 0; x < width; x++) { border.Add(gray[x]); border.Add(gray[(height - 1) * width + x]); }
        for (var y = 0; y < height; y++) { border.Add(gray[y * width]); border.Add(gray[y * width + width - 1]); }
        border.Sort();
        return border[border.Count / 2];
    }

    /// <summary>
    /// Area resampling of a box of the image: each output pixel is the mean of the input area it covers, partly
    /// covered pixels weighted by their share. Down-scaling so anti-aliases, as MNIST's normalisation did.
    /// </summary>
    private static float[] Resample(float[] image, int stride, int left, int top, int width, int height, int outWidth, int outHeight)
    {
        var columns = Weights(width, outWidth);
        var rows = Weights(height, outHeight);
        var horizontal = new float[height * outWidth];
        for (var y = 0; y < height; y++)
            for (var ox = 0; ox < outWidth; ox++)
            {
                double sum = 0;
                foreach (var (x, w) in columns[ox]) sum += w * image[(top + y) * stride + left + x];
                horizontal[y * outWidth + ox] = (float)sum;
            }
        var result = new float[outHeight * outWidth];
        for (var oy = 0; oy < outHeight; oy++)
            for (var ox = 0; ox < outWidth; ox++)
            {
                double sum = 0;
                foreach (var (y, w) in rows[oy]) sum += w * horizontal[y * outWidth + ox];
                result[oy * outWidth + ox] = (float)sum;
            }
        return result;
    }

    /// <summary>For each output index, the input indices it covers and their weights (summing to 1).</summary>
    private static List<(int Index, double Weight)>[] Weights(int inputLength, int outputLength)
    {
        var step = (double)inputLength / outputLength;
        var weights = new List<(int, double)>[outputLength];
        for (var o = 0; o < outputLength; o++)
        {
            double start = o * step, end = (o + 1) * step;
            weights[o] = new List<(int, double)>();
            for (var i = (int)Math.Floor(start); i < Math.Min(inputLength, (int)Math.Ceiling(end)); i++)
            {
                var overlap = Math.Min(end, i + 1) - Math.Max(start, i);
                if (overlap > 0) weights[o].Add((i, overlap / step));
            }
        }
        return weights;
    }
}
