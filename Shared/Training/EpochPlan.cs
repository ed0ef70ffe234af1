namespace DataParallel.Shared.Training;

/// <summary>A slice of one step's global batch: the unit of work a worker computes gradients for.</summary>
public sealed record MicroBatchSpec(int Index, int Offset, int Count);

/// <summary>
/// The order of one epoch and its division into steps and micro-batches: a pure function of
/// (seed, epoch, dataset size, batch size, micro-batch size). Every image is used once per epoch;
/// the last step and its last micro-batch may be short.
/// </summary>
public sealed class EpochPlan
{
    private readonly int[] _order;

    public EpochPlan(long seed, int epoch, int examples, int batchSize, int microBatchSize)
    {
        if (examples <= 0) throw new ArgumentOutOfRangeException(nameof(examples), "an epoch needs at least one example");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        if (microBatchSize <= 0 || batchSize % microBatchSize != 0)
            throw new ArgumentException($"batch size {batchSize} is not a multiple of micro-batch size {microBatchSize}");
        Epoch = epoch;
        BatchSize = batchSize;
        MicroBatchSize = microBatchSize;
        _order = Shuffle(examples, new DeterministicRandom(SeedSequence.Derive(seed, SeedPurpose.Shuffle, epoch)));
    }

    public int Epoch { get; }
    public int BatchSize { get; }
    public int MicroBatchSize { get; }
    public int Examples => _order.Length;
    public int Steps => StepsPerEpoch(_order.Length, BatchSize);

    public static int StepsPerEpoch(int examples, int batchSize) => (examples + batchSize - 1) / batchSize;

    /// <summary>The dataset indices of step <paramref name="step"/>'s global batch, in order.</summary>
    public ReadOnlySpan<int> StepIndices(int step)
    {
        if (step < 0 || step >= Steps) throw new ArgumentOutOfRangeException(nameof(step));
        var start = step * BatchSize;
        return _order.AsSpan(start, Math.Min(BatchSize, _order.Length - start));
    }

    /// <summary>The micro-batches of a step, as offsets into <see cref="StepIndices"/>.</summary>
    public IReadOnlyList<MicroBatchSpec> MicroBatches(int step)
    {
        var size = StepIndices(step).Length;
        var result = new List<MicroBatchSpec>((size + MicroBatchSize - 1) / MicroBatchSize);
        for (int offset = 0, index = 0; offset < size; offset += MicroBatchSize, index++)
            result.Add(new MicroBatchSpec(index, offset, Math.Min(MicroBatchSize, size - offset)));
        return result;
    }

    private static int[] Shuffle(int count, DeterministicRandom random)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        for (var i = count - 1; i > 0; i--)
        {
            var j = random.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
