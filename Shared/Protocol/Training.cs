namespace DataParallel.Shared.Protocol;

/// <summary>One micro-batch: raw image bytes (28x28 each) and labels, with the seeds of its augmentation and dropout.</summary>
public sealed record MicroBatch(int Index, byte[] Images, byte[] Labels, ulong AugmentSeed, ulong DropoutSeed);

/// <summary>
/// Coordinator -> worker: compute gradients for micro-batches <paramref name="Indices"/> of (Epoch, Step),
/// starting from the parameters of <paramref name="Version"/> (the number of optimizer steps applied so far).
/// Parameters and buffers are omitted when this worker already holds that version; <paramref name="Batches"/>
/// holds the data of those micro-batches it was not sent ahead with <see cref="PrefetchBatches"/>.
/// </summary>
public sealed record ComputeGradients(int Epoch, int Step, long Version, float[]? Parameters, float[]? Buffers, int[] Indices, MicroBatch[] Batches) : IProtocolMessage;

/// <summary>
/// Coordinator -> worker: the data of micro-batches the worker will probably compute at (Epoch, Step), sent
/// while it computes the step before, so that only parameters and gradients remain on the critical path.
/// </summary>
public sealed record PrefetchBatches(int Epoch, int Step, MicroBatch[] Batches) : IProtocolMessage;

/// <summary>Worker -> coordinator: one micro-batch's gradient of its mean loss, its BatchNorm buffers after the forward pass, and how long it took.</summary>
public sealed record GradientsComputed(
    string WorkerId, int Epoch, int Step, int Index,
    float[] Gradients, float[] Buffers, float Loss, int Correct, int Count, double Milliseconds) : IProtocolMessage;

/// <summary>Worker -> coordinator: the worker lacks the parameters or a prefetched micro-batch it was asked to use (it restarted); send everything again.</summary>
public sealed record InputsMissing(string WorkerId, int Epoch, int Step, long Version) : IProtocolMessage;

/// <summary>
/// Worker -> coordinator: computing a unit (a micro-batch, an evaluation chunk or a replica round, by its index in
/// the phase; Step is -1 for evaluation, the round's version for a replica) threw. The worker has reset its model;
/// the coordinator gives the unit to a worker again.
/// </summary>
public sealed record UnitFailed(string WorkerId, int Epoch, long Step, int Unit, string Error) : IProtocolMessage;
