using Akka.Actor;

namespace DataParallel.Coordinator.Training;

/// <summary>What the coordinator knows of a worker it accepted: where it is and what it already holds.</summary>
public sealed class RegisteredWorker(string id, IActorRef actor, int threads, string address)
{
    public string Id { get; } = id;
    public IActorRef Ref { get; } = actor;
    public int Threads { get; } = threads;
    /// <summary>The worker's node, as the coordinator sees it ("in-process" for a worker in its own actor system).</summary>
    public string Address { get; } = address;
    /// <summary>The parameter version this worker was last sent; -1 when it has none we know of.</summary>
    public long SentVersion { get; set; } = -1;
    public DateTime LastReply { get; set; } = DateTime.UtcNow;
    /// <summary>Micro-batches whose data this worker was sent ahead of their step and has not used yet.</summary>
    public HashSet<(int Epoch, int Step, int Index)> Prefetched { get; } = new();
    public WorkerStats Stats { get; set; } = new();

    /// <summary>Forget what it holds: it restarted or failed, so everything must be sent again.</summary>
    public void Reset()
    {
        SentVersion = -1;
        Prefetched.Clear();
    }
}
