namespace DataParallel.Shared.Protocol;

/// <summary>What a unit of work is: a micro-batch of a training step, a chunk of the test set, or a replica's round.</summary>
public enum UnitKind : byte
{
    MicroBatch = 1,
    EvalChunk = 2,
    Replica = 3,
}

/// <summary>
/// The identity of one unit of work: the phase it belongs to (epoch, the parameter version it starts from, its kind)
/// and its index in that phase. Every work message carries it, every reply echoes it, and the coordinator decides
/// whether a reply is current by comparing it with the unit it handed out, in one place.
/// </summary>
public readonly record struct UnitId(int Epoch, long Version, UnitKind Kind, int Index)
{
    public override string ToString() => Kind switch
    {
        UnitKind.MicroBatch => $"micro-batch {Index} of epoch {Epoch} (version {Version})",
        UnitKind.EvalChunk => $"evaluation chunk {Index} of epoch {Epoch}",
        _ => $"replica {Index} of epoch {Epoch} (round at version {Version})",
    };
}

/// <summary>A worker's answer about one unit. The sender, not anything the message claims, says which worker it is.</summary>
public interface IUnitReply : IProtocolMessage
{
    UnitId Unit { get; }
}

/// <summary>Worker -> coordinator: the worker lacks the parameters or data it was asked to use (it restarted); send everything again.</summary>
public sealed record InputsMissing(UnitId Unit) : IUnitReply;

/// <summary>
/// Worker -> coordinator: computing the unit threw. The worker has rebuilt its model; the coordinator hands the unit,
/// and whatever else the worker held, out again.
/// </summary>
public sealed record UnitFailed(UnitId Unit, string Error) : IUnitReply;
