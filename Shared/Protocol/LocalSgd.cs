using DataParallel.Shared.Training;

namespace DataParallel.Shared.Protocol;

/// <summary>One local optimizer step of a replica: its micro-batch and the schedule's values at that step.</summary>
public sealed record LocalStep(int Step, double LearningRate, double Momentum, MicroBatch Batch);

/// <summary>
/// Coordinator -> worker (--sync params): run the unit's replica for the given local steps from the round's shared
/// starting point (parameters, buffers, optimizer state), then report the result.
/// </summary>
public sealed record TrainReplica(
    UnitId Unit, string Optimizer, double WeightDecay,
    float[] Parameters, float[] Buffers, float[][] OptimizerState, long OptimizerSteps, LocalStep[] Steps) : IProtocolMessage;

public sealed record ReplicaTrained(UnitId Unit, ReplicaResult Result, double Milliseconds) : IUnitReply;
