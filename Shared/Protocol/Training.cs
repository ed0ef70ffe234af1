namespace DataParallel.Shared.Protocol;

/// <summary>One micro-batch: raw image bytes (28x28 each) and labels, with the seeds of its augmentation and dropout.</summary>
public sealed record MicroBatch(int Index, byte[] Images, byte[] Labels, ulong AugmentSeed, ulong DropoutSeed);

/// <summary>
/// Coordinator -> worker: compute gradients for these micro-batches of (Epoch, Step), starting from the
/// parameters of <paramref name="Version"/> (the number of optimizer steps applied so far). Parameters
/// and buffers are omitted when this worker has already been sent that version.
/// </summary>
public sealed record ComputeGradients(int Epoch, int Step, long Version, float[]? Parameters, float[]? Buffers, MicroBatch[] Batches) : IProtocolMessage;

/// <summary>Worker -> coordinator: one micro-batch's gradient of its mean loss, its BatchNorm buffers after the forward pass, and how long it took.</summary>
public sealed record GradientsComputed(
    string WorkerId, int Epoch, int Step, int Index,
    float[] Gradients, float[] Buffers, float Loss, int Correct, int Count, double Milliseconds) : IProtocolMessage;

/// <summary>Worker -> coordinator: the worker was asked for a version it was never sent (it restarted); send parameters again.</summary>
public sealed record ParametersMissing(string WorkerId, int Epoch, int Step, long Version) : IProtocolMessage;
