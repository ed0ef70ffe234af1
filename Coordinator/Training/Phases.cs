using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;

namespace DataParallel.Coordinator.Training;

/// <summary>
/// One round of work the coordinator hands out and waits for: the units, who holds which, and what came back.
/// A phase is identified by its epoch and parameter version; replies for any other phase are stale.
/// </summary>
internal abstract class Phase(int epoch, long version, int units)
{
    public int Epoch { get; } = epoch;
    public long Version { get; } = version;
    public WorkAssignment Assignment { get; } = new(units);
    /// <summary>Units recomputed once because their result was not finite.</summary>
    public HashSet<int> Retried { get; } = new();
    /// <summary>How often each unit's computation threw.</summary>
    public Dictionary<int, int> Failures { get; } = new();
}

/// <summary>--sync grads: the micro-batches of one step, combined in order when all are in.</summary>
internal sealed class StepPhase(int epoch, int step, long version, int microBatches) : Phase(epoch, version, microBatches)
{
    public int Step { get; } = step;
    public GradientCombiner Combiner { get; } = new(microBatches);
}

/// <summary>The test set in chunks, with the parameters at the end of an epoch.</summary>
internal sealed class EvalPhase(int epoch, long version, int chunks) : Phase(epoch, version, chunks)
{
    public EvaluationResult?[] Results { get; } = new EvaluationResult?[chunks];
}

/// <summary>--sync params: every replica's round of local steps, averaged when all are in.</summary>
internal sealed class RoundPhase(int epoch, long version, int replicas) : Phase(epoch, version, replicas)
{
    public ReplicaTrained?[] Results { get; } = new ReplicaTrained?[replicas];
}
