using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace DataParallel.Shared.Training;

/// <summary>What one micro-batch contributes to a step: its mean loss's gradient and its BatchNorm statistics.</summary>
public sealed record GradientResult(float[] Gradients, float[] Buffers, float Loss, int Correct, int Count);

/// <summary>Sums over a chunk of evaluation examples.</summary>
public sealed record EvaluationResult(double LossSum, int Correct, int Count);

/// <summary>
/// One copy of the model and the maths a worker runs on it. Every call starts from the parameters and
/// buffers it is given and returns plain arrays, so the result depends on its inputs and nothing else.
/// </summary>
public sealed class ModelReplica : IDisposable
{
    private readonly SeedNet _model;
    private readonly ModelState _state;
    private readonly Generator _generator = new(0);

    public ModelReplica(double dropout = SeedNet.DefaultDropout, bool channelsLast = true)
    {
        _model = new SeedNet(dropout, channelsLast);
        _model.UseGenerator(_generator);
        _state = new ModelState(_model);
    }

    public StateLayout Layout => _state.Layout;

    public SeedNet Model => _model;

    /// <summary>Loads parameters and buffers into the model (call once per step, not per micro-batch).</summary>
    public void Load(float[] parameters, float[] buffers)
    {
        _state.WriteParameters(parameters);
        _state.WriteBuffers(buffers);
        _loadedBuffers = buffers;
    }

    // The loaded version's buffers: every micro-batch of a step starts from them (arrays are never mutated once sent).
    private float[]? _loadedBuffers;

    /// <summary>Forward and backward on one micro-batch of the loaded version, prepared ahead by <see cref="Prepare"/>.</summary>
    public GradientResult ComputeGradients(PreparedBatch batch) =>
        ComputeGradients(_loadedBuffers ?? throw new InvalidOperationException("no parameters loaded"), batch);

    /// <summary>Forward and backward on one micro-batch from the loaded state; the loaded state itself is left unchanged.</summary>
    public GradientResult ComputeGradients(ReadOnlySpan<float> buffers, byte[] images, byte[] labels, ulong augmentSeed, ulong dropoutSeed,
        Augmentation augmentation)
    {
        using var batch = Prepare(images, labels, augmentSeed, dropoutSeed, augmentation);
        return ComputeGradients(buffers, batch);
    }

    /// <summary>
    /// What a micro-batch's forward pass needs that depends on its seeds and images and not on the parameters: the
    /// inputs (augmented and normalised), the labels and the dropout masks, drawn as the forward pass would draw them.
    /// A worker prepares the next step's micro-batches while it waits for that step's parameters, so that the step's
    /// critical path holds the forward and backward passes alone (about 0.5 ms of a 14 ms micro-batch of 64 images).
    /// </summary>
    public PreparedBatch Prepare(Protocol.MicroBatch batch, Augmentation augmentation) =>
        Prepare(batch.Images, batch.Labels, batch.AugmentSeed, batch.DropoutSeed, augmentation);

    public PreparedBatch Prepare(byte[] images, byte[] labels, ulong augmentSeed, ulong dropoutSeed, Augmentation augmentation)
    {
        using var scope = NewDisposeScope();
        var x = Inputs(images, labels.Length, augmentation, augmentSeed);
        var y = tensor(labels, ScalarType.Byte).to_type(ScalarType.Int64);
        _generator.manual_seed(SeedSequence.ForTorch(dropoutSeed));
        var masks = _model.DrawMasks(labels.Length);
        foreach (var mask in masks) mask?.DetachFromDisposeScope();
        return new PreparedBatch(x.DetachFromDisposeScope(), y.DetachFromDisposeScope(), masks, labels.Length);
    }

    private GradientResult ComputeGradients(ReadOnlySpan<float> buffers, PreparedBatch batch)
    {
        // Running statistics are updated by the forward pass: restore the step's buffers so every micro-batch starts equal.
        _state.WriteBuffers(buffers);
        _model.train();
        _model.zero_grad();
        using var scope = NewDisposeScope();
        try
        {
            _model.UseMasks(batch.Masks);
            var output = _model.call(batch.Inputs);
            var loss = nn.functional.nll_loss(output, batch.Labels);
            loss.backward();
            var correct = (int)output.argmax(1).eq(batch.Labels).sum().ToInt64();
            return new GradientResult(_state.ReadGradients(), _state.ReadBuffers(), loss.ToSingle(), correct, batch.Count);
        }
        finally
        {
            _model.UseMasks(NoMasks); // a forward pass that failed part-way leaves none behind for the next one
        }
    }

    private static readonly Tensor?[] NoMasks = new Tensor?[3];

    /// <summary>
    /// Images per forward pass in <see cref="Evaluate"/>. A chunk of 500 in one pass kept every activation of all
    /// 500 images alive until its dispose scope ended, about 180 MB that glibc (with our malloc tunables) keeps
    /// mapped for the rest of the run; 100 at a time need a fifth of that and run as fast, and 50 (2.5 MB per
    /// activation, about one core's L2 cache) 17% faster again (bench/ReplicaBench, 30,000 test images: 1.56-1.57 s
    /// against 1.87-1.96 s; 25 and 32 no faster than 50). Measured here: the per-image outputs are bit-identical for
    /// passes of 50, 100, 250 and 500 images (and the test set's summed loss for 25 and 32).
    /// </summary>
    public const int EvaluationPass = 50;

    /// <summary>Evaluation mode: running statistics, no dropout. Returns the summed loss so chunks can be combined.</summary>
    public EvaluationResult Evaluate(byte[] images, byte[] labels)
    {
        _model.eval();
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var count = labels.Length;
        var pixels = Pixels(images, count);
        var outputs = new List<Tensor>((count + EvaluationPass - 1) / EvaluationPass);
        for (var start = 0; start < count; start += EvaluationPass)
        {
            using var pass = NewDisposeScope();
            var x = Normalise(pixels.narrow(0, start, Math.Min(EvaluationPass, count - start)), Augmentation.None, 0);
            outputs.Add(_model.call(x).MoveToOuterDisposeScope());
        }
        // The loss is summed over the whole chunk in one call, as before the passes were split, so it rounds alike.
        var output = cat(outputs, 0);
        var y = tensor(labels, ScalarType.Byte).to_type(ScalarType.Int64);
        var lossSum = nn.functional.nll_loss(output, y, reduction: nn.Reduction.Sum).ToDouble();
        var correct = (int)output.argmax(1).eq(y).sum().ToInt64();
        return new EvaluationResult(lossSum, correct, count);
    }

    public float[] ReadParameters() => _state.ReadParameters();
    public float[] ReadBuffers() => _state.ReadBuffers();

    // Held for the process's life: a temporary Scalar can be finalized while libtorch still reads it (see BatchNorm2d).
    private static readonly Scalar PixelScale = 255f.ToScalar();
    private static readonly Scalar Mean = MnistDataset.Mean.ToScalar();
    private static readonly Scalar Std = MnistDataset.Std.ToScalar();

    private static Tensor Inputs(byte[] images, int count, Augmentation augmentation, ulong augmentSeed) =>
        Normalise(Pixels(images, count), augmentation, augmentSeed);

    private static Tensor Pixels(byte[] images, int count)
    {
        if (images.Length != count * MnistDataset.ImageBytes)
            throw new ArgumentException($"{images.Length} image bytes for {count} labels");
        return tensor(images, [count, 1, MnistDataset.Side, MnistDataset.Side], ScalarType.Byte);
    }

    private static Tensor Normalise(Tensor pixels, Augmentation augmentation, ulong augmentSeed)
    {
        var x = pixels.to_type(ScalarType.Float32).div_(PixelScale);
        if (augmentation.Enabled) x = augmentation.Apply(x, augmentSeed);
        return x.sub_(Mean).div_(Std);
    }

    public void Dispose()
    {
        _model.Dispose();
        _generator.Dispose();
    }
}

/// <summary>
/// A micro-batch made ready for <see cref="ModelReplica.ComputeGradients(PreparedBatch)"/>: its inputs, labels and dropout
/// masks as tensors. Its owner disposes it once the micro-batch is computed (or no longer wanted).
/// </summary>
public sealed class PreparedBatch(Tensor inputs, Tensor labels, Tensor?[] masks, int count) : IDisposable
{
    public Tensor Inputs { get; } = inputs;
    public Tensor Labels { get; } = labels;
    public IReadOnlyList<Tensor?> Masks { get; } = masks;
    public int Count { get; } = count;

    public void Dispose()
    {
        Inputs.Dispose();
        Labels.Dispose();
        foreach (var mask in Masks) mask?.Dispose();
    }
}
