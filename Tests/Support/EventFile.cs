using System.Buffers.Binary;
using Tensorboard;

namespace DataParallel.Tests.Support;

/// <summary>
/// Reads a TensorBoard event file record by record as TensorBoard does, checking both CRCs with TorchSharp's
/// CRC-32C (native code, not the trainer's), and decodes each Event.
/// </summary>
public static class EventFile
{
    public sealed record Scalar(string Tag, float Value, long Step, double WallTime);

    public static IReadOnlyList<Event> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        var at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 12, $"{path}: truncated record header at byte {at}");
            var header = bytes.AsSpan(at, 8).ToArray();
            Assert.Equal(Masked(header), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            var length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header));
            Assert.True(bytes.Length - at - 12 >= length + 4, $"{path}: truncated record at byte {at}");
            var body = bytes.AsSpan(at + 12, length).ToArray();
            Assert.Equal(Masked(body), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + length)));
            events.Add(Event.Parser.ParseFrom(body));
            at += 12 + length + 4;
        }
        return events;
    }

    public static IReadOnlyList<Scalar> Scalars(IEnumerable<Event> events) =>
        events.Where(e => e.Summary is not null)
            .SelectMany(e => e.Summary.Value.Select(v => new Scalar(v.Tag, v.SimpleValue, e.Step, e.WallTime)))
            .ToList();

    private static uint Masked(byte[] data)
    {
        var crc = TorchSharp.Utils.CRC32C.process(data);
        return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
    }
}
