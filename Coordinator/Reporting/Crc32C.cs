namespace DataParallel.Coordinator.Reporting;

/// <summary>CRC-32C (Castagnoli), the checksum of TensorFlow's record files, and the masked form those files store.</summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78; // 0x1EDC6F41 reflected

    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? Polynomial ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }

    /// <summary>TensorFlow masks stored CRCs (rotate right by 15, add a constant) so that a CRC of data holding CRCs stays strong.</summary>
    public static uint Masked(ReadOnlySpan<byte> data)
    {
        var crc = Compute(data);
        return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
    }
}
