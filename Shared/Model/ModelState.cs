using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>
/// Reads and writes a live module's parameters, gradients and buffers as flat float vectors in
/// <see cref="StateLayout"/> order. This is the edge where tensors become arrays: nothing else converts.
/// </summary>
public sealed class ModelState
{
    private readonly (StateEntry Entry, Tensor Tensor)[] _parameters;
    private readonly (StateEntry Entry, Tensor Tensor)[] _buffers;

    public ModelState(nn.Module model)
    {
        Layout = StateLayout.Of(model);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.named_parameters()) tensors[name] = p;
        foreach (var (name, b) in model.named_buffers()) tensors[name] = b;
        _parameters = Layout.Entries.Where(e => e.IsParameter).Select(e => (e, tensors[e.Name])).ToArray();
        _buffers = Layout.Entries.Where(e => !e.IsParameter).Select(e => (e, tensors[e.Name])).ToArray();
    }

    public StateLayout Layout { get; }

    public float[] ReadParameters()
    {
        var result = new float[Layout.ParameterLength];
        foreach (var (entry, tensor) in _parameters) CopyTo(tensor, result.AsSpan(entry.Offset, entry.Length));
        return result;
    }

    public void WriteParameters(ReadOnlySpan<float> values)
    {
        Check(values.Length, Layout.ParameterLength, "parameters");
        foreach (var (entry, tensor) in _parameters) CopyFrom(tensor, values.Slice(entry.Offset, entry.Length));
    }

    public float[] ReadGradients()
    {
        var result = new float[Layout.ParameterLength];
        foreach (var (entry, tensor) in _parameters)
        {
            using var grad = tensor.grad;
            if (grad is null) continue; // a parameter the loss did not reach has a zero gradient
            CopyTo(grad, result.AsSpan(entry.Offset, entry.Length));
        }
        return result;
    }

    public float[] ReadBuffers()
    {
        var result = new float[Layout.BufferLength];
        foreach (var (entry, tensor) in _buffers)
        {
            var target = result.AsSpan(entry.Offset, entry.Length);
            if (entry.DType == ScalarType.Float32)
            {
                CopyTo(tensor, target);
            }
            else
            {
                var i = 0;
                foreach (var v in tensor.data<long>()) target[i++] = v;
            }
        }
        return result;
    }

    public void WriteBuffers(ReadOnlySpan<float> values)
    {
        Check(values.Length, Layout.BufferLength, "buffers");
        foreach (var (entry, tensor) in _buffers)
        {
            var source = values.Slice(entry.Offset, entry.Length);
            if (entry.DType == ScalarType.Float32)
            {
                CopyFrom(tensor, source);
            }
            else
            {
                var longs = new long[entry.Length];
                for (var i = 0; i < longs.Length; i++) longs[i] = (long)MathF.Round(source[i]);
                tensor.data<long>().CopyFrom(longs);
            }
        }
    }

    // TorchSharp's accessors copy element by element, computing each element's offset from the strides: about 0.2 ms
    // per vector of this model, twice on every micro-batch's critical path. A contiguous tensor's storage is the
    // flat vector itself, so it is copied as one block (same values, same order); any other layout (channels-last
    // weights) keeps the accessor's logical order.
    private static void CopyTo(Tensor tensor, Span<float> target)
    {
        if (IsFlat(tensor, target.Length)) MemoryMarshal.Cast<byte, float>(tensor.bytes).CopyTo(target);
        else tensor.data<float>().CopyTo(target);
    }

    private static void CopyFrom(Tensor tensor, ReadOnlySpan<float> source)
    {
        if (IsFlat(tensor, source.Length)) source.CopyTo(MemoryMarshal.Cast<byte, float>(tensor.bytes));
        else tensor.data<float>().CopyFrom(source);
    }

    // `bytes` is the tensor's own CPU storage (no copy), allowed only when it is contiguous.
    private static bool IsFlat(Tensor tensor, int length) =>
        tensor.device_type == DeviceType.CPU && tensor.dtype == ScalarType.Float32 && tensor.is_contiguous() && tensor.numel() == length;

    private static void Check(int actual, int expected, string what)
    {
        if (actual != expected)
            throw new ArgumentException($"{actual} {what} values for a model with {expected}");
    }
}
