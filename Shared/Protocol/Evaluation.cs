namespace DataParallel.Shared.Protocol;

/// <summary>Coordinator -> worker: evaluate a chunk of test images with the parameters of <paramref name="Version"/>.</summary>
public sealed record EvaluateChunk(int Epoch, int Chunk, long Version, float[]? Parameters, float[]? Buffers, byte[] Images, byte[] Labels) : IProtocolMessage;

/// <summary>Worker -> coordinator: summed loss and correct count of one chunk.</summary>
public sealed record ChunkEvaluated(string WorkerId, int Epoch, int Chunk, double LossSum, int Correct, int Count, double Milliseconds) : IProtocolMessage;
