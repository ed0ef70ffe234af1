using System.IO.Compression;
using DataParallel.Shared.Data;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class IdxTests : IDisposable
{
    private readonly string _dir = Repository.NewTempDirectory("idx");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteImages(string name, int count, int rows = 28, int cols = 28, Func<byte[], byte[]>? tamper = null, bool gzip = false)
    {
        using var memory = new MemoryStream();
        var pixels = new byte[count * rows * cols];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7);
        Idx.WriteImages(memory, count, rows, cols, pixels);
        return Save(name, tamper?.Invoke(memory.ToArray()) ?? memory.ToArray(), gzip);
    }

    private string WriteLabels(string name, byte[] labels, Func<byte[], byte[]>? tamper = null, bool gzip = false)
    {
        using var memory = new MemoryStream();
        Idx.WriteLabels(memory, labels);
        return Save(name, tamper?.Invoke(memory.ToArray()) ?? memory.ToArray(), gzip);
    }

    private string Save(string name, byte[] bytes, bool gzip)
    {
        var path = Path.Combine(_dir, name + (gzip ? ".gz" : ""));
        if (!gzip) { File.WriteAllBytes(path, bytes); return path; }
        using var file = File.Create(path);
        using var z = new GZipStream(file, CompressionLevel.Fastest);
        z.Write(bytes);
        return path;
    }

    [Fact]
    public void Reads_raw_and_gzipped_files_alike()
    {
        var raw = Idx.ReadImages(WriteImages("raw", 3));
        var gz = Idx.ReadImages(WriteImages("gz", 3, gzip: true));
        Assert.Equal(3, raw.Count);
        Assert.Equal(28, raw.Rows);
        Assert.Equal(raw.Pixels, gz.Pixels);
        Assert.Equal((byte)7, raw.Pixels[1]);
        Assert.Equal(new byte[] { 1, 9, 0 }, Idx.ReadLabels(WriteLabels("l", [1, 9, 0], gzip: true)));
    }

    [Fact]
    public void Truncated_image_file_names_file_and_sizes()
    {
        var path = WriteImages("truncated", 2, tamper: b => b[..^10]);
        var e = Assert.Throws<DataFileException>(() => Idx.ReadImages(path));
        Assert.Equal($"{path}: truncated: 2 images of 28x28 need 1584 bytes, the file has 1574", e.Message);
    }

    [Fact]
    public void Truncated_header_is_reported()
    {
        var path = Save("short", [0, 0, 8], gzip: false);
        var e = Assert.Throws<DataFileException>(() => Idx.ReadImages(path));
        Assert.Contains("truncated: an IDX image header needs 16 bytes, the file has 3", e.Message);
    }

    [Fact]
    public void Wrong_magic_number_is_reported()
    {
        // A label file where images are expected: the classic swapped-arguments mistake.
        var path = WriteLabels("labels-as-images", [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var e = Assert.Throws<DataFileException>(() => Idx.ReadImages(path));
        Assert.Equal($"{path}: wrong magic number 0x00000801, expected 0x00000803 (IDX unsigned-byte images)", e.Message);
    }

    [Fact]
    public void Label_above_nine_is_reported_with_its_index()
    {
        var path = WriteLabels("bad-label", [3, 9, 12, 0]);
        var e = Assert.Throws<DataFileException>(() => Idx.ReadLabels(path));
        Assert.Equal($"{path}: label 12 at index 2 is above 9", e.Message);
    }

    [Fact]
    public void Trailing_bytes_are_reported()
    {
        var path = WriteLabels("trailing", [1, 2], tamper: b => [.. b, 0, 0]);
        var e = Assert.Throws<DataFileException>(() => Idx.ReadLabels(path));
        Assert.Contains("2 unexpected bytes after 2 labels", e.Message);
    }

    [Fact]
    public void Corrupt_gzip_is_reported()
    {
        var path = WriteImages("corrupt", 2, gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<DataFileException>(() => Idx.ReadImages(path));
        Assert.StartsWith(path + ": ", e.Message);
    }

    [Fact]
    public void Images_and_labels_of_different_counts_are_refused()
    {
        WriteImages("train-images-idx3-ubyte", 3);
        var labels = WriteLabels("train-labels-idx1-ubyte", [1, 2]);
        var e = Assert.Throws<DataFileException>(() => MnistDataset.Load(_dir, MnistSplit.Train));
        Assert.Equal($"{labels}: 2 labels for 3 images in {Path.Combine(_dir, "train-images-idx3-ubyte")}", e.Message);
    }

    [Fact]
    public void Images_of_the_wrong_size_are_refused()
    {
        var images = WriteImages("t10k-images-idx3-ubyte", 2, rows: 32, cols: 32);
        WriteLabels("t10k-labels-idx1-ubyte", [1, 2]);
        var e = Assert.Throws<DataFileException>(() => MnistDataset.Load(_dir, MnistSplit.Test));
        Assert.Equal($"{images}: images are 32x32, MNIST needs 28x28", e.Message);
    }

    [Fact]
    public void Missing_file_names_the_file_and_the_fix()
    {
        var e = Assert.Throws<DataFileException>(() => MnistDataset.Load(_dir, MnistSplit.Test));
        Assert.Contains("t10k-images-idx3-ubyte: file not found", e.Message);
    }

    [Fact]
    public void Loads_the_gzipped_dotted_spelling()
    {
        WriteImages("t10k-images.idx3-ubyte", 2, gzip: true);
        WriteLabels("t10k-labels.idx1-ubyte", [4, 5], gzip: true);
        var test = MnistDataset.Load(_dir, MnistSplit.Test);
        Assert.Equal(2, test.Count);
        Assert.Equal((byte)5, test.Labels[1]);
    }
}
