using Akka.Actor;

namespace DataParallel.Coordinator.Training;

/// <summary>What the coordinator knows of a worker it accepted: where it is and what it already holds.</summary>
internal sealed class RegisteredWorker(string id, IActorRef actor, int threads, string host)
{
    public string Id { get; } = id;
    public IActorRef Ref { get; } = actor;
    public int Threads { get; } = threads;
    public string Host { get; } = host;
    /// <summary>The parameter version this worker was last sent; -1 when it has none we know of.</summary>
    public long SentVersion { get; set; } = -1;
    public DateTime LastReply { get; set; } = DateTime.UtcNow;
    /// <summary>Micro-batches whose data this worker was sent ahead of their step and has not used yet.</summary>
    public HashSet<(int Epoch, int Step, int Index)> Prefetched { get; } = new();
    public WorkerStats Stats { get; set; } = new();
}
