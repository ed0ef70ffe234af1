using System.Buffers.Binary;
using System.IO.Compression;
using DataParallel.Shared.IO;

namespace DataParallel.Shared.Data;

/// <summary>Images from an IDX3 file: Count images of Rows x Columns bytes, row-major, one after another.</summary>
public sealed record IdxImages(int Count, int Rows, int Columns, byte[] Pixels)
{
    public int ImageSize => Rows * Columns;
}

/// <summary>
/// Reads the IDX files MNIST is distributed in (big-endian header, then raw bytes), raw or gzipped.
/// Everything is validated against the header, so a truncated download or a swapped file fails loudly.
/// </summary>
public static class Idx
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;

    public static IdxImages ReadImages(string path)
    {
        var bytes = ReadAll(path);
        if (bytes.Length < 16)
            throw new DataFileException(path, $"truncated: an IDX image header needs 16 bytes, the file has {bytes.Length}");
        var magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (magic != ImagesMagic)
            throw new DataFileException(path, $"wrong magic number 0x{magic:x8}, expected 0x{ImagesMagic:x8} (IDX unsigned-byte images)");
        var count = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
        var rows = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8));
        var cols = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(12));
        if (count < 0 || rows <= 0 || cols <= 0)
            throw new DataFileException(path, $"invalid dimensions {count} x {rows} x {cols}");
        var expected = 16L + (long)count * rows * cols;
        if (bytes.Length < expected)
            throw new DataFileException(path, $"truncated: {count} images of {rows}x{cols} need {expected} bytes, the file has {bytes.Length}");
        if (bytes.Length > expected)
            throw new DataFileException(path, $"{bytes.Length - expected} unexpected bytes after {count} images of {rows}x{cols}");
        return new IdxImages(count, rows, cols, bytes.AsSpan(16).ToArray());
    }

    public static byte[] ReadLabels(string path, int classes = 10)
    {
        var bytes = ReadAll(path);
        if (bytes.Length < 8)
            throw new DataFileException(path, $"truncated: an IDX label header needs 8 bytes, the file has {bytes.Length}");
        var magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (magic != LabelsMagic)
            throw new DataFileException(path, $"wrong magic number 0x{magic:x8}, expected 0x{LabelsMagic:x8} (IDX unsigned-byte labels)");
        var count = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
        if (count < 0)
            throw new DataFileException(path, $"invalid label count {count}");
        var expected = 8L + count;
        if (bytes.Length < expected)
            throw new DataFileException(path, $"truncated: {count} labels need {expected} bytes, the file has {bytes.Length}");
        if (bytes.Length > expected)
            throw new DataFileException(path, $"{bytes.Length - expected} unexpected bytes after {count} labels");
        var labels = bytes.AsSpan(8).ToArray();
        for (var i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classes)
                throw new DataFileException(path, $"label {labels[i]} at index {i} is above {classes - 1}");
        }
        return labels;
    }

    public static void WriteImages(Stream stream, int count, int rows, int cols, ReadOnlySpan<byte> pixels)
    {
        Span<byte> header = stackalloc byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], count);
        BinaryPrimitives.WriteInt32BigEndian(header[8..], rows);
        BinaryPrimitives.WriteInt32BigEndian(header[12..], cols);
        stream.Write(header);
        stream.Write(pixels);
    }

    public static void WriteLabels(Stream stream, ReadOnlySpan<byte> labels)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], labels.Length);
        stream.Write(header);
        stream.Write(labels);
    }

    private static byte[] ReadAll(string path)
    {
        if (!System.IO.File.Exists(path))
            throw new DataFileException(path, "file not found");
        try
        {
            return ReadAllOrThrow(path);
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            throw new DataFileException(path, $"cannot read: {FileIoException.Reason(e)}");
        }
    }

    private static byte[] ReadAllOrThrow(string path)
    {
        using var file = System.IO.File.OpenRead(path);
        Span<byte> sniff = stackalloc byte[2];
        var gz = file.Read(sniff) == 2 && sniff[0] == 0x1f && sniff[1] == 0x8b;
        file.Position = 0;
        if (!gz)
        {
            var bytes = new byte[file.Length];
            file.ReadExactly(bytes);
            return bytes;
        }
        try
        {
            using var inflate = new GZipStream(file, CompressionMode.Decompress);
            using var memory = new MemoryStream();
            inflate.CopyTo(memory);
            return memory.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DataFileException(path, $"corrupt gzip stream ({e.Message.TrimEnd('.')})");
        }
    }
}
