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
        foreach (var (entry, tensor) in _parameters)
            tensor.data<float>().CopyTo(result.AsSpan(entry.Offset, entry.Length));
        return result;
    }

    public void WriteParameters(ReadOnlySpan<float> values)
    {
        Check(values.Length, Layout.ParameterLength, "parameters");
        foreach (var (entry, tensor) in _parameters)
            tensor.data<float>().CopyFrom(values.Slice(entry.Offset, entry.Length));
    }

    public float[] ReadGradients()
    {
        var result = new float[Layout.ParameterLength];
        foreach (var (entry, tensor) in _parameters)
        {
            using var grad = tensor.grad;
            if (grad is null) continue; // a parameter the loss did not reach has a zero gradient
            grad.data<float>().CopyTo(result.AsSpan(entry.Offset, entry.Length));
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
                tensor.data<float>().CopyTo(target);
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
                tensor.data<float>().CopyFrom(source);
            }
            else
            {
                var longs = new long[entry.Length];
                for (var i = 0; i < longs.Length; i++) longs[i] = (long)MathF.Round(source[i]);
                tensor.data<long>().CopyFrom(longs);
            }
        }
    }

    private static void Check(int actual, int expected, string what)
    {
        if (actual != expected)
            throw new ArgumentException($"{actual} {what} values for a model with {expected}");
    }
}
