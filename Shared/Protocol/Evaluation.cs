using DataParallel.Shared.Training;

namespace DataParallel.Shared.Protocol;

/// <summary>Coordinator -> worker: evaluate a chunk of test images with the parameters of the unit's version.</summary>
public sealed record EvaluateChunk(UnitId Unit, float[]? Parameters, float[]? Buffers, byte[] Images, byte[] Labels) : IProtocolMessage;

/// <summary>Worker -> coordinator: summed loss and correct count of one chunk.</summary>
public sealed record ChunkEvaluated(UnitId Unit, EvaluationResult Result, double Milliseconds) : IUnitReply;
