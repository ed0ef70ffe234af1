using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DataParallel.Shared.Model;

/// <summary>SHA-256 of all parameters and buffers as little-endian float32, in state-dict order.</summary>
public static class StateHash
{
    public static string Sha256(StateLayout layout, ReadOnlySpan<float> parameters, ReadOnlySpan<float> buffers)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> four = stackalloc byte[4];
        foreach (var entry in layout.Entries)
        {
            var values = (entry.IsParameter ? parameters : buffers).Slice(entry.Offset, entry.Length);
            if (BitConverter.IsLittleEndian)
            {
                hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
                continue;
            }
            foreach (var v in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(four, v);
                hash.AppendData(four);
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
