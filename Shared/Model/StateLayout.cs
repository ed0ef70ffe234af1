using System.Security.Cryptography;
using System.Text;
using static TorchSharp.torch;

namespace DataParallel.Shared.Model;

/// <summary>One tensor of the state dict and where its values sit in the flat parameter or buffer vector.</summary>
public sealed record StateEntry(string Name, long[] Shape, bool IsParameter, ScalarType DType, int Offset, int Length);

/// <summary>
/// The model's state in PyTorch's state-dict order (module by module: its parameters, then its buffers),
/// mapped onto two flat float vectors: trainable parameters, and buffers (BatchNorm running mean, running
/// variance and num_batches_tracked, the latter stored as float). Everything that crosses a process
/// boundary or is hashed uses this layout.
/// </summary>
public sealed class StateLayout
{
    private StateLayout(IReadOnlyList<StateEntry> entries)
    {
        Entries = entries;
        ParameterLength = entries.Where(e => e.IsParameter).Sum(e => e.Length);
        BufferLength = entries.Where(e => !e.IsParameter).Sum(e => e.Length);
        var text = new StringBuilder();
        foreach (var e in entries)
            text.Append($"{e.Name}:{(e.IsParameter ? "param" : "buffer")}:{e.DType}:[{string.Join(',', e.Shape)}]\n");
        Fingerprint = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    public IReadOnlyList<StateEntry> Entries { get; }
    public int ParameterLength { get; }
    public int BufferLength { get; }

    /// <summary>A short hash of names, kinds, types and shapes: two processes with equal fingerprints run the same architecture.</summary>
    public string Fingerprint { get; }

    /// <summary>Integer buffers (num_batches_tracked) travel as floats; averaging can leave them a rounding error off.</summary>
    public void RoundIntegerBuffers(Span<float> buffers)
    {
        foreach (var e in Entries)
        {
            if (e.IsParameter || e.DType == ScalarType.Float32) continue;
            foreach (ref var v in buffers.Slice(e.Offset, e.Length)) v = MathF.Round(v);
        }
    }

    public static StateLayout Of(nn.Module model)
    {
        var entries = new List<StateEntry>();
        int parameterOffset = 0, bufferOffset = 0;
        Walk(model, prefix: "");
        return new StateLayout(entries);

        void Walk(nn.Module module, string prefix)
        {
            foreach (var (name, p) in module.named_parameters(recurse: false))
            {
                var length = checked((int)p.numel());
                entries.Add(new StateEntry(prefix + name, p.shape, true, p.dtype, parameterOffset, length));
                parameterOffset += length;
            }
            foreach (var (name, b) in module.named_buffers(recurse: false, include_nonpersistent: false))
            {
                var length = checked((int)b.numel());
                entries.Add(new StateEntry(prefix + name, b.shape, false, b.dtype, bufferOffset, length));
                bufferOffset += length;
            }
            foreach (var (name, child) in module.named_children())
                Walk(child, prefix + name + ".");
        }
    }
}
