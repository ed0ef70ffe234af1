using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace DataParallel.Shared.Serialization;

/// <summary>A message that does not parse: truncated, oversized or inconsistent.</summary>
public sealed class WireFormatException(string message) : Exception(message);

/// <summary>Little-endian writer for the protocol: fixed-size scalars, and arrays as a length prefix plus raw elements.</summary>
public sealed class WireWriter
{
    private byte[] _buffer;
    private int _length;

    public WireWriter(int capacity = 256) => _buffer = new byte[capacity];

    /// <summary>A writer that leaves the first <paramref name="reserved"/> bytes of its buffer free (for a frame header).</summary>
    public WireWriter(int capacity, int reserved) => (_buffer, _length) = (new byte[Math.Max(capacity, reserved)], reserved);

    /// <summary>The buffer up to the last byte written, reserved bytes included; the buffer itself when it was sized exactly (no copy).</summary>
    public byte[] ToArray() => _length == _buffer.Length ? _buffer : _buffer.AsSpan(0, _length).ToArray();

    public void Int32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Reserve(4), value);
    public void Int64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), value);
    public void UInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);
    public void Float32(float value) => BinaryPrimitives.WriteSingleLittleEndian(Reserve(4), value);
    public void Float64(double value) => BinaryPrimitives.WriteDoubleLittleEndian(Reserve(8), value);

    public void String(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Bytes(bytes);
    }

    public void Bytes(ReadOnlySpan<byte> value)
    {
        Int32(value.Length);
        value.CopyTo(Reserve(value.Length));
    }

    public void Floats(ReadOnlySpan<float> value)
    {
        Int32(value.Length);
        var target = Reserve(value.Length * 4);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(value).CopyTo(target);
            return;
        }
        for (var i = 0; i < value.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(target[(i * 4)..], value[i]);
    }

    /// <summary>An optional array: -1 for null, else as <see cref="Floats"/>.</summary>
    public void OptionalFloats(float[]? value)
    {
        if (value is null) Int32(-1);
        else Floats(value);
    }

    private Span<byte> Reserve(int count)
    {
        if (_length + count > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}

/// <summary>The reader matching <see cref="WireWriter"/>; every length is checked against what is left.</summary>
public ref struct WireReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    public ulong UInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
    public float Float32() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));
    public double Float64() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));
    public string String() => Encoding.UTF8.GetString(Take(Length(1)));
    public byte[] Bytes() => Take(Length(1)).ToArray();

    public float[] Floats()
    {
        var count = Length(4);
        var source = Take(count * 4);
        var result = new float[count];
        if (BitConverter.IsLittleEndian) source.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        else for (var i = 0; i < count; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
        return result;
    }

    public float[]? OptionalFloats()
    {
        var peek = BinaryPrimitives.ReadInt32LittleEndian(Peek(4));
        if (peek != -1) return Floats();
        Take(4);
        return null;
    }

    /// <summary>A count prefix for an array of elements of <paramref name="elementSize"/> bytes, checked against what is left.</summary>
    public int Length(int elementSize)
    {
        var count = Int32();
        if (count < 0 || (long)count * elementSize > _rest.Length)
            throw new WireFormatException($"length {count} (x{elementSize} bytes) exceeds the {_rest.Length} bytes left");
        return count;
    }

    public void End()
    {
        if (!_rest.IsEmpty) throw new WireFormatException($"{_rest.Length} unexpected bytes after the message");
    }

    private ReadOnlySpan<byte> Peek(int count)
    {
        if (_rest.Length < count) throw new WireFormatException($"truncated: needed {count} bytes, {_rest.Length} left");
        return _rest[..count];
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        var span = Peek(count);
        _rest = _rest[count..];
        return span;
    }
}
