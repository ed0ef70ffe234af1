using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;

namespace DataParallel.Coordinator.Training;

/// <summary>
/// One round of work the coordinator hands out and waits for: its units, who holds which, and what came back.
/// A phase is identified by epoch, parameter version and kind: a reply whose <see cref="UnitId"/> names another is stale.
/// Each kind knows how many units a worker may hold, how to send them, and how to keep a result.
/// </summary>
public abstract class Phase(int epoch, long version, int units)
{
    public int Epoch { get; } = epoch;
    public long Version { get; } = version;
    public WorkAssignment Assignment { get; } = new(units);
    /// <summary>Units recomputed once because their result was not finite.</summary>
    public HashSet<int> Retried { get; } = new();
    /// <summary>How often each unit's computation threw.</summary>
    public Dictionary<int, int> Failures { get; } = new();

    public abstract UnitKind Kind { get; }

    public bool Owns(UnitId unit) => unit.Epoch == Epoch && unit.Version == Version && unit.Kind == Kind
                                     && unit.Index >= 0 && unit.Index < Assignment.Units;

    /// <summary>How many units one worker may hold at once, with <paramref name="workers"/> workers alive.</summary>
    public abstract int Window(int workers);

    /// <summary>The messages that hand <paramref name="units"/> to <paramref name="worker"/>; records what it now holds.</summary>
    public abstract IEnumerable<IProtocolMessage> Send(RegisteredWorker worker, IReadOnlyList<int> units, TrainingRun run);

    /// <summary>Keeps a current result; false (and nothing kept) if its values are not finite.</summary>
    public abstract bool Keep(IUnitReply reply);

    /// <summary>
    /// What is wrong with the shape of a result (vector lengths, counts against the plan), or null. A worker sends
    /// such a thing only if it is broken or hostile: it is dropped from the run, never allowed to crash the coordinator.
    /// </summary>
    public abstract string? Malformed(IUnitReply reply, TrainingRun run);

    protected static string? Counts(int correct, int count, int expected) =>
        count != expected ? $"{count} examples where the plan has {expected}"
        : correct < 0 || correct > count ? $"{correct} correct of {count}"
        : null;

    protected static string? Lengths(TrainingRun run, float[] parameters, float[] buffers) =>
        parameters.Length != run.Layout.ParameterLength ? $"{parameters.Length} values for {run.Layout.ParameterLength} parameters"
        : buffers.Length != run.Layout.BufferLength ? $"{buffers.Length} values for {run.Layout.BufferLength} buffer entries"
        : null;

    /// <summary>Images trained by a result, for throughput (0 for evaluation).</summary>
    public virtual int TrainedImages(IUnitReply reply) => 0;
}

/// <summary>--sync grads: the micro-batches of one step, combined in order when all are in.</summary>
public sealed class StepPhase(int epoch, int step, long version, int microBatches) : Phase(epoch, version, microBatches)
{
    public int Step { get; } = step;
    public GradientCombiner Combiner { get; } = new(microBatches);
    public override UnitKind Kind => UnitKind.MicroBatch;

    // Every worker gets its whole share at once and computes it in sequence: one message per step and worker.
    public override int Window(int workers) => (Assignment.Units + workers - 1) / Math.Max(1, workers);

    public override IEnumerable<IProtocolMessage> Send(RegisteredWorker worker, IReadOnlyList<int> units, TrainingRun run)
    {
        var withParameters = worker.SentVersion != Version;
        var batches = units.Where(u => !worker.Prefetched.Remove((Epoch, Step, u))).Select(u => run.BuildMicroBatch(Step, u)).ToArray();
        worker.SentVersion = Version;
        yield return new ComputeGradients(Epoch, Step, Version, withParameters ? run.Parameters : null, withParameters ? run.Buffers : null,
            units.ToArray(), batches);
    }

    public override bool Keep(IUnitReply reply)
    {
        var result = ((GradientsComputed)reply).Result;
        if (!TrainingRun.Finite(result.Gradients) || !TrainingRun.Finite(result.Buffers)) return false;
        Combiner.Add(reply.Unit.Index, result);
        return true;
    }

    public override int TrainedImages(IUnitReply reply) => ((GradientsComputed)reply).Result.Count;

    public override string? Malformed(IUnitReply reply, TrainingRun run) => reply is GradientsComputed { Result: var r }
        ? Lengths(run, r.Gradients, r.Buffers) ?? Counts(r.Correct, r.Count, run.MicroBatches()[reply.Unit.Index].Count)
        : $"a {reply.GetType().Name} for a micro-batch";

    /// <summary>
    /// The data of the micro-batches each worker will most likely get in the next step (the indices it holds now),
    /// to send while it computes this one, so that only parameters and gradients wait on the network.
    /// </summary>
    public IEnumerable<(RegisteredWorker Worker, PrefetchBatches Batches)> Prefetch(IEnumerable<RegisteredWorker> workers, TrainingRun run)
    {
        var next = Step + 1;
        if (next >= run.StepsPerEpoch) yield break;
        var nextCount = run.MicroBatchCount(next);
        foreach (var worker in workers.OrderBy(w => w.Id, StringComparer.Ordinal))
        {
            worker.Prefetched.RemoveWhere(k => (k.Epoch, k.Step).CompareTo((Epoch, Step)) < 0);
            var batches = Assignment.UnitsWith(worker.Id)
                .Where(u => u < nextCount && worker.Prefetched.Add((Epoch, next, u)))
                .Select(u => run.BuildMicroBatch(next, u))
                .ToArray();
            if (batches.Length > 0) yield return (worker, new PrefetchBatches(Epoch, next, batches));
        }
    }
}

/// <summary>The test set in chunks, with the parameters at the end of an epoch.</summary>
public sealed class EvalPhase(int epoch, long version, int chunks) : Phase(epoch, version, chunks)
{
    private readonly EvaluationResult?[] _results = new EvaluationResult?[chunks];
    public override UnitKind Kind => UnitKind.EvalChunk;

    // Two in flight: the next chunk's images travel while the worker evaluates the current one.
    public override int Window(int workers) => 2;

    public override IEnumerable<IProtocolMessage> Send(RegisteredWorker worker, IReadOnlyList<int> units, TrainingRun run)
    {
        foreach (var chunk in units)
        {
            var withParameters = worker.SentVersion != Version;
            var (images, labels) = run.EvalChunk(chunk);
            worker.SentVersion = Version;
            yield return new EvaluateChunk(new UnitId(Epoch, Version, Kind, chunk), withParameters ? run.Parameters : null,
                withParameters ? run.Buffers : null, images, labels);
        }
    }

    public override bool Keep(IUnitReply reply)
    {
        var result = ((ChunkEvaluated)reply).Result;
        if (!double.IsFinite(result.LossSum)) return false;
        _results[reply.Unit.Index] = result;
        return true;
    }

    public override string? Malformed(IUnitReply reply, TrainingRun run) => reply is ChunkEvaluated { Result: var r }
        ? Counts(r.Correct, r.Count, run.EvalChunkCount(reply.Unit.Index))
        : $"a {reply.GetType().Name} for an evaluation chunk";

    /// <summary>The whole test set's summed loss and correct count.</summary>
    public EvaluationResult Total() => new(_results.Sum(r => r!.LossSum), _results.Sum(r => r!.Correct), _results.Sum(r => r!.Count));
}

/// <summary>--sync params: every replica's round of local steps, averaged when all are in.</summary>
public sealed class RoundPhase(int epoch, long version, int replicas) : Phase(epoch, version, replicas)
{
    private readonly ReplicaResult?[] _results = new ReplicaResult?[replicas];
    public override UnitKind Kind => UnitKind.Replica;
    public override int Window(int workers) => 1;

    public override IEnumerable<IProtocolMessage> Send(RegisteredWorker worker, IReadOnlyList<int> units, TrainingRun run)
    {
        // Each round message carries its own starting state; afterwards the worker holds no broadcast version.
        worker.SentVersion = -1;
        return units.Select(run.BuildReplicaRound);
    }

    public override bool Keep(IUnitReply reply)
    {
        var result = ((ReplicaTrained)reply).Result;
        if (!TrainingRun.Finite(result.Parameters) || !TrainingRun.Finite(result.Buffers)) return false;
        _results[reply.Unit.Index] = result;
        return true;
    }

    public override int TrainedImages(IUnitReply reply) => ((ReplicaTrained)reply).Result.Count;

    public override string? Malformed(IUnitReply reply, TrainingRun run) => reply is ReplicaTrained { Result: var r }
        ? Lengths(run, r.Parameters, r.Buffers)
          ?? (r.OptimizerState.Length != run.Optimizer.State.Count || r.OptimizerState.Any(v => v.Length != run.Layout.ParameterLength)
              ? "optimizer state of the wrong shape" : null)
          ?? (r.Count <= 0 || r.Correct < 0 || r.Correct > r.Count ? $"{r.Correct} correct of {r.Count}" : null)
        : $"a {reply.GetType().Name} for a replica";

    public IReadOnlyList<ReplicaResult> Results => _results.Select(r => r!).ToList();
}
