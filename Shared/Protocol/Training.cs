using DataParallel.Shared.Training;

namespace DataParallel.Shared.Protocol;

/// <summary>One micro-batch: raw image bytes (28x28 each) and labels, with the seeds of its augmentation and dropout.</summary>
public sealed record MicroBatch(int Index, byte[] Images, byte[] Labels, ulong AugmentSeed, ulong DropoutSeed);

/// <summary>
/// Coordinator -> worker: compute gradients for micro-batches <paramref name="Indices"/> of (Epoch, Step),
/// starting from the parameters of <paramref name="Version"/> (the number of optimizer steps applied so far).
/// Parameters and buffers are omitted when this worker already holds that version; <paramref name="Batches"/>
/// holds the data of those micro-batches it was not sent ahead with <see cref="PrefetchBatches"/>.
/// </summary>
public sealed record ComputeGradients(
    int Epoch, int Step, long Version, float[]? Parameters, float[]? Buffers, int[] Indices, MicroBatch[] Batches) : IProtocolMessage
{
    public UnitId Unit(int index) => new(Epoch, Version, UnitKind.MicroBatch, index);
}

/// <summary>
/// Coordinator -> worker: the data of micro-batches the worker will probably compute at (Epoch, Step), sent
/// while it computes the step before, so that only parameters and gradients remain on the critical path.
/// </summary>
public sealed record PrefetchBatches(int Epoch, int Step, MicroBatch[] Batches) : IProtocolMessage;

/// <summary>Worker -> coordinator: one micro-batch's result and how long the worker took to compute it.</summary>
public sealed record GradientsComputed(UnitId Unit, GradientResult Result, double Milliseconds) : IUnitReply;
