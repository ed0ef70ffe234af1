using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DataParallel.Shared.Data;

/// <summary>
/// The SHA-256 of the data a run trains and tests on: the training images and labels, then the test images and labels,
/// each preceded by its length in bytes (8 bytes, little-endian) so that no bytes can move from one part to the next
/// unnoticed. Taken of what is used (after --limit-train and --limit-test), not of the files: the same images read
/// raw or gzipped have the same digest. A checkpoint stores it and a resumed run compares it.
/// </summary>
public static class DataDigest
{
    public static string Of(MnistDataset train, MnistDataset test)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        foreach (var part in new[] { train.Images, train.Labels, test.Images, test.Labels })
        {
            BinaryPrimitives.WriteInt64LittleEndian(length, part.LongLength);
            sha.AppendData(length);
            sha.AppendData(part);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
