using DataParallel.Coordinator.Training;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace DataParallel.Coordinator.Inference;

/// <summary>A model file or run directory that cannot be used: missing, of another format, or not this model.</summary>
public sealed class ModelFileException(string message) : Exception(message);

/// <summary>
/// A trained seed model as plain vectors in <see cref="StateLayout"/> order, read from any of the forms a run
/// leaves (model.safetensors, model.pt, a checkpoint, a run directory), and the forward pass on raw MNIST bytes.
/// </summary>
public sealed class TrainedModel
{
    public const string SafetensorsFile = "model.safetensors";
    public const string PyTorchFile = "model.pt";
    public const string OnnxFile = "model.onnx";
    public const string CardFile = "model.card.md";

    /// <summary>Images per forward pass: large enough to be quick, small enough that activations stay modest (about 25 MB).</summary>
    private const int Chunk = 500;

    public TrainedModel(StateLayout layout, float[] parameters, float[] buffers, string source)
    {
        if (parameters.Length != layout.ParameterLength || buffers.Length != layout.BufferLength)
            throw new ArgumentException(
                $"{parameters.Length} parameters and {buffers.Length} buffer values "
                + $"for a model with {layout.ParameterLength} and {layout.BufferLength}");
        Layout = layout;
        Parameters = parameters;
        Buffers = buffers;
        Source = source;
    }

    public StateLayout Layout { get; }
    public float[] Parameters { get; }
    public float[] Buffers { get; }
    /// <summary>Where the state was read from, for messages.</summary>
    public string Source { get; }
    public string Sha256 => StateHash.Sha256(Layout, Parameters, Buffers);

    /// <summary>A live network holding this state, in evaluation mode (running statistics, no dropout).</summary>
    public SeedNet CreateNet()
    {
        var net = new SeedNet();
        var state = new ModelState(net);
        state.WriteParameters(Parameters);
        state.WriteBuffers(Buffers);
        net.eval();
        return net;
    }

    /// <summary>Log-probabilities, <c>count x 10</c> row by row, of raw 28x28 images (one byte a pixel, white on black).</summary>
    public float[] LogProbabilities(ReadOnlySpan<byte> images)
    {
        if (images.Length % MnistDataset.ImageBytes != 0)
            throw new ArgumentException($"{images.Length} bytes are not whole {MnistDataset.Side}x{MnistDataset.Side} images");
        var count = images.Length / MnistDataset.ImageBytes;
        var result = new float[count * SeedNet.Classes];
        using var net = CreateNet();
        for (var start = 0; start < count; start += Chunk)
        {
            var n = Math.Min(Chunk, count - start);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var x = Normalised(images.Slice(start * MnistDataset.ImageBytes, n * MnistDataset.ImageBytes), n);
            net.call(x).data<float>().CopyTo(result.AsSpan(start * SeedNet.Classes, n * SeedNet.Classes));
        }
        return result;
    }

    private static Tensor Normalised(ReadOnlySpan<byte> images, int count) =>
        tensor(NormalisedPixels(images), [count, 1, MnistDataset.Side, MnistDataset.Side]);

    /// <summary>What training feeds the network: pixels / 255, then standardised with MNIST's mean and deviation.</summary>
    public static float[] NormalisedPixels(ReadOnlySpan<byte> images)
    {
        var pixels = new float[images.Length];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (images[i] / 255f - MnistDataset.Mean) / MnistDataset.Std;
        return pixels;
    }

    /// <summary>
    /// A run directory (its model.safetensors, else its newest valid checkpoint), a .safetensors or .pt state dict,
    /// or a .ckpt checkpoint. Throws <see cref="ModelFileException"/> with a message naming the path.
    /// </summary>
    public static TrainedModel Open(string path, Action<string>? warn = null)
    {
        if (Directory.Exists(path))
        {
            var safetensors = Path.Combine(path, SafetensorsFile);
            if (File.Exists(safetensors)) return Open(safetensors, warn);
            if (new CheckpointStore(path).Files().Count == 0)
                throw new ModelFileException($"{path}: neither {SafetensorsFile} nor a checkpoint in this directory");
            return NewestCheckpoint(path, warn).Model;
        }
        if (!File.Exists(path)) throw new ModelFileException($"{path}: no such model file or run directory");
        var extension = Path.GetExtension(path).ToLowerInvariant();
        return extension switch
        {
            ".safetensors" => FromStateDict(path, (net, stream) => net.load_safetensors(stream, strict: true)),
            ".pt" or ".pth" => FromStateDict(path, (net, stream) => net.load_py(stream, strict: true)),
            ".ckpt" => FromCheckpointFile(path),
            ".onnx" => throw new ModelFileException(
                $"{path}: an ONNX model runs in ONNX Runtime; give the {SafetensorsFile} or {PyTorchFile} next to it, or the run directory"),
            _ => throw new ModelFileException($"{path}: unknown model format '{extension}' (expected .safetensors, .pt, .ckpt or a run directory)"),
        };
    }

    /// <summary>The newest checkpoint of a run directory that reads back intact.</summary>
    public static (TrainedModel Model, Checkpoint Checkpoint, string File) NewestCheckpoint(string runDirectory, Action<string>? warn)
    {
        var store = new CheckpointStore(runDirectory);
        if (store.Files().Count == 0) throw new ModelFileException($"{runDirectory}: no checkpoint in {store.Directory}");
        try
        {
            var (checkpoint, path) = store.LoadNewest(warn ?? (_ => { }));
            return (FromCheckpoint(checkpoint, path), checkpoint, path);
        }
        catch (CheckpointException e)
        {
            throw new ModelFileException(e.Message);
        }
    }

    private static TrainedModel FromCheckpointFile(string path)
    {
        try { return FromCheckpoint(CheckpointFile.Decode(File.ReadAllBytes(path), path), path); }
        catch (CheckpointException e) { throw new ModelFileException(e.Message); }
    }

    private static TrainedModel FromCheckpoint(Checkpoint checkpoint, string path)
    {
        var layout = LayoutOfSeedNet();
        if (checkpoint.Fingerprint != layout.Fingerprint)
            throw new ModelFileException(
                $"{path}: a checkpoint of another model (fingerprint {checkpoint.Fingerprint}, this build's SeedNet has {layout.Fingerprint})");
        return new TrainedModel(layout, checkpoint.Parameters, checkpoint.Buffers, path);
    }

    private static TrainedModel FromStateDict(string path, Action<SeedNet, Stream> load)
    {
        using var net = new SeedNet();
        try
        {
            using var stream = File.OpenRead(path);
            load(net, stream);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // PyBridge reports a foreign or damaged file with whatever its parser threw; one line is what the user needs.
            throw new ModelFileException($"{path}: not a SeedNet state dict ({e.GetBaseException().Message.Split('\n')[0]})");
        }
        var state = new ModelState(net);
        return new TrainedModel(state.Layout, state.ReadParameters(), state.ReadBuffers(), path);
    }

    public static StateLayout LayoutOfSeedNet()
    {
        using var net = new SeedNet();
        return StateLayout.Of(net);
    }
}
