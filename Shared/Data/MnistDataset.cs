namespace DataParallel.Shared.Data;

/// <summary>One split of MNIST held as raw bytes: 28x28 images, one byte a pixel, and labels 0-9.</summary>
public sealed class MnistDataset
{
    public const int Side = 28;
    public const int ImageBytes = Side * Side;
    public const float Mean = 0.1307f;
    public const float Std = 0.3081f;

    public MnistDataset(byte[] images, byte[] labels)
    {
        if (images.Length != labels.Length * ImageBytes)
            throw new ArgumentException($"{images.Length} image bytes do not hold {labels.Length} images of {ImageBytes} bytes");
        Images = images;
        Labels = labels;
    }

    public byte[] Images { get; }
    public byte[] Labels { get; }
    public int Count => Labels.Length;

    public ReadOnlySpan<byte> Image(int index) => Images.AsSpan(index * ImageBytes, ImageBytes);

    /// <summary>The first <paramref name="count"/> examples (all of them when count is null or larger).</summary>
    public MnistDataset Take(int? count)
    {
        if (count is null || count >= Count) return this;
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        return new MnistDataset(Images.AsSpan(0, count.Value * ImageBytes).ToArray(), Labels.AsSpan(0, count.Value).ToArray());
    }

    /// <summary>Copies the images at <paramref name="indices"/> into one contiguous block, in that order.</summary>
    public (byte[] Images, byte[] Labels) Gather(ReadOnlySpan<int> indices)
    {
        var images = new byte[indices.Length * ImageBytes];
        var labels = new byte[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            Image(indices[i]).CopyTo(images.AsSpan(i * ImageBytes));
            labels[i] = Labels[indices[i]];
        }
        return (images, labels);
    }

    public static MnistDataset Load(string directory, MnistSplit split)
    {
        var (imageName, labelName) = split == MnistSplit.Train
            ? ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
            : ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
        var imagePath = Locate(directory, imageName);
        var labelPath = Locate(directory, labelName);
        var images = Idx.ReadImages(imagePath);
        if (images.Rows != Side || images.Columns != Side)
            throw new DataFileException(imagePath, $"images are {images.Rows}x{images.Columns}, MNIST needs {Side}x{Side}");
        var labels = Idx.ReadLabels(labelPath);
        if (labels.Length != images.Count)
            throw new DataFileException(labelPath, $"{labels.Length} labels for {images.Count} images in {imagePath}");
        return new MnistDataset(images.Pixels, labels);
    }

    /// <summary>True when all four files are present, raw or gzipped, under either common spelling.</summary>
    public static bool IsPresent(string directory) =>
        MnistFiles.All.All(f => TryLocate(directory, f.Name) is not null);

    private static string Locate(string directory, string name) =>
        TryLocate(directory, name)
            ?? throw new DataFileException(Path.Combine(directory, name), "file not found (raw or .gz); run `deploy/get-mnist.sh` or pass --data");

    private static string? TryLocate(string directory, string name)
    {
        var dotted = name.Replace("-idx", ".idx");
        foreach (var candidate in new[] { name, name + ".gz", dotted, dotted + ".gz" })
        {
            var path = Path.Combine(directory, candidate);
            if (File.Exists(path)) return path;
        }
        return null;
    }
}

public enum MnistSplit { Train, Test }
