using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Coordinator.Transport;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Security;

namespace DataParallel.Coordinator.Actors;

/// <summary>
/// Who is in the run: the join handshake (version and model checks, the token proved over a fresh nonce), and the
/// ways a worker leaves (its actor stops, its node is removed, or stays unreachable past a grace, or the coordinator
/// gives up on it). A child of the coordinator, which forwards joins to it and hears only
/// <see cref="WorkerAccepted"/> and <see cref="WorkerLost"/>. Replies to workers go out in the coordinator's name:
/// that is the actor a worker takes orders from.
/// </summary>
public sealed class MembershipActor : ReceiveActor, IWithTimers
{
    /// <summary>Joins waiting for their proof; past this, new ones are ignored until old ones expire.</summary>
    public const int MaxPendingJoins = 64;
    public static readonly TimeSpan PendingJoinExpiry = TimeSpan.FromSeconds(30);

    public sealed record WorkerAccepted(RegisteredWorker Worker);
    public sealed record WorkerLost(string WorkerId, string Reason);
    /// <summary>The coordinator gave up on a worker: forget it and down its node.</summary>
    public sealed record Down(RegisteredWorker Worker);

    private readonly LaunchSettings _launch;
    private readonly JobSpec _job;
    private readonly string _fingerprint;
    private readonly IActorRef _reporter;
    private readonly DataPort? _dataPort;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly Dictionary<string, IActorRef> _members = new();
    // Keyed by the sender, never by the id it claims: a second request for an id cannot evict or replace anybody's.
    private readonly Dictionary<IActorRef, PendingJoin> _pending = new();
    // Proven joins whose advertised address is being probed (ReachBack): their retried requests wait for the answer.
    private readonly HashSet<IActorRef> _probing = new();

    public MembershipActor(LaunchSettings launch, JobSpec job, string fingerprint, IActorRef reporter, DataPort? dataPort)
    {
        _dataPort = dataPort;
        _launch = launch;
        _job = job;
        _fingerprint = fingerprint;
        _reporter = reporter;
        Receive<JoinRequest>(OnJoinRequest);
        Receive<JoinProof>(OnJoinProof);
        Receive<ReachBackChecked>(OnReachBackChecked);
        Receive<ClusterEvent.UnreachableMember>(
            e => Timers.StartSingleTimer(e.Member.Address, new Recheck(e.Member.Address), _launch.UnreachableGrace));
        Receive<ClusterEvent.ReachableMember>(e => Timers.Cancel(e.Member.Address));
        Receive<Recheck>(r =>
        {
            if (!_cluster.State.Unreachable.Any(m => m.Address.Equals(r.Address))) return;
            LoseAt(r.Address, "unreachable");
            DownNode(r.Address);
        });
        Receive<ClusterEvent.MemberRemoved>(e => LoseAt(e.Member.Address, "left the cluster"));
        Receive<Terminated>(t =>
        {
            if (_members.FirstOrDefault(m => m.Value.Equals(t.ActorRef)).Key is not { } id) return;
            // A worker stopped with SIGTERM leaves the cluster first; its actor's end may arrive before MemberRemoved.
            var address = t.ActorRef.Path.Address;
            var member = _cluster.State.Members.FirstOrDefault(m => m.Address.Equals(address));
            var left = address.HasGlobalScope
                && (t.AddressTerminated || member is null || member.Status is MemberStatus.Leaving or MemberStatus.Exiting);
            Lose(id, left ? "left the cluster" : "stopped");
        });
        Receive<Down>(d =>
        {
            if (_members.TryGetValue(d.Worker.Id, out var actor) && actor.Equals(d.Worker.Ref)) Forget(d.Worker.Id);
            DownNode(d.Worker.Ref.Path.Address);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(LaunchSettings launch, JobSpec job, string fingerprint, IActorRef reporter, DataPort? dataPort = null) =>
        Akka.Actor.Props.Create(() => new MembershipActor(launch, job, fingerprint, reporter, dataPort));

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnJoinRequest(JoinRequest request)
    {
        if (request.ProtocolVersion != ProtocolInfo.Version)
        {
            Refuse(request.WorkerId, Sender, $"protocol version {request.ProtocolVersion} does not match the coordinator's {ProtocolInfo.Version}");
            return;
        }
        if (!WorkerIds.IsValid(request.WorkerId))
        {
            Refuse("?", Sender, "a worker id is 1 to 64 letters, digits, '-', '_' or '.'");
            return;
        }
        if (request.ModelFingerprint != _fingerprint)
        {
            Refuse(request.WorkerId, Sender,
                $"model fingerprint {request.ModelFingerprint} does not match the coordinator's {_fingerprint} (a different model architecture)");
            return;
        }
        if (_probing.Contains(Sender)) return;
        if (_members.TryGetValue(request.WorkerId, out var known) && known.Equals(Sender))
        {
            // A retried request from a worker already accepted: answer again, idempotently.
            Sender.Tell(Accepted(request, Sender), Context.Parent);
            return;
        }
        var now = DateTime.UtcNow;
        foreach (var expired in _pending.Where(p => p.Value.Expires < now).Select(p => p.Key).ToList()) _pending.Remove(expired);
        if (!_pending.ContainsKey(Sender) && _pending.Count >= MaxPendingJoins)
        {
            _log.Warning("Ignored a join request from {0}: {1} joins are already waiting for their proof", Sender.Path.Address, _pending.Count);
            return;
        }
        var nonce = JoinToken.NewNonce();
        _pending[Sender] = new PendingJoin(request, nonce, now + PendingJoinExpiry);
        Sender.Tell(new JoinChallenge(request.WorkerId, nonce), Context.Parent);
    }

    private void OnJoinProof(JoinProof proof)
    {
        if (!_pending.Remove(Sender, out var pending)) return;
        var id = pending.Request.WorkerId;
        if (proof.WorkerId != id || (_launch.Token is not null && !JoinToken.Verify(_launch.Token, pending.Nonce, id, proof.Proof)))
        {
            Refuse(id, Sender, "wrong or missing join token");
            return;
        }
        // Proven, so the coordinator may now connect out to the address it claims (never before: a stranger could
        // otherwise make it connect anywhere). A worker in this actor system has no address to reach.
        var address = Sender.Path.Address;
        if (!address.HasGlobalScope || address.Equals(_cluster.SelfAddress))
        {
            Admit(pending.Request, Sender);
            return;
        }
        var worker = Sender;
        _probing.Add(worker);
        ReachBack.ProbeAsync(address.Host!, address.Port!.Value, _launch.Tls, ReachBack.DefaultTimeout)
            .PipeTo(Self, success: why => new ReachBackChecked(worker, pending.Request, why),
                failure: e => new ReachBackChecked(worker, pending.Request, e.GetBaseException().Message));
    }

    private void OnReachBackChecked(ReachBackChecked check)
    {
        _probing.Remove(check.Worker);
        var address = check.Worker.Path.Address;
        if (check.Why is { } why)
        {
            _log.Warning("Cannot reach worker {0} back at {1}:{2}: {3}", check.Request.WorkerId, address.Host, address.Port, why);
            Refuse(check.Request.WorkerId, check.Worker, ReachBack.Refusal(address.Host!, address.Port!.Value, why));
            return;
        }
        Admit(check.Request, check.Worker);
    }

    private void Admit(JoinRequest request, IActorRef worker)
    {
        // Proven: only now may the same id from a new actor system replace the old incarnation.
        var id = request.WorkerId;
        if (_members.ContainsKey(id)) Lose(id, "restarted");
        _members[id] = worker;
        Context.Watch(worker);
        worker.Tell(Accepted(request, worker), Context.Parent);
        Context.Parent.Tell(new WorkerAccepted(new RegisteredWorker(id, worker, request.Threads, AddressOf(worker))));
    }

    /// <summary>The acceptance, with the data port and this worker's ticket when it lives in another actor system.</summary>
    private JoinAccepted Accepted(JoinRequest request, IActorRef worker)
    {
        var proof = _launch.Token is not null && request.Nonce is { } nonce
            ? JoinToken.ProveCoordinator(_launch.Token, nonce, request.WorkerId)
            : null;
        var remote = worker.Path.Address.HasGlobalScope && !worker.Path.Address.Equals(_cluster.SelfAddress);
        return _dataPort is { } port && remote
            ? new JoinAccepted(request.WorkerId, _job, proof, port.Port, port.Ticket(worker))
            : new JoinAccepted(request.WorkerId, _job, proof);
    }

    private void Refuse(string workerId, IActorRef worker, string reason)
    {
        worker.Tell(new JoinRefused(workerId, reason), Context.Parent);
        _reporter.Tell(new WorkerRefusedNotice(workerId, AddressOf(worker), reason));
        // A refused process leaves by itself; downing its node as well keeps it out of the cluster for good.
        var address = worker.Path.Address;
        if (address.HasGlobalScope && !address.Equals(_cluster.SelfAddress))
            Context.System.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromSeconds(1), () => _cluster.Down(address));
    }

    private void LoseAt(Address address, string reason)
    {
        foreach (var id in _members.Where(m => m.Value.Path.Address.Equals(address)).Select(m => m.Key).ToList()) Lose(id, reason);
    }

    private void Lose(string id, string reason)
    {
        Forget(id);
        Context.Parent.Tell(new WorkerLost(id, reason));
    }

    /// <summary>Out of the run, whichever way it left: unwatched, and its data-channel ticket and channel void.</summary>
    private void Forget(string id)
    {
        if (!_members.Remove(id, out var actor)) return;
        Context.Unwatch(actor);
        _dataPort?.Forget(actor);
    }

    private void DownNode(Address address)
    {
        if (address.HasGlobalScope && !address.Equals(_cluster.SelfAddress)) _cluster.Down(address);
    }

    private static string AddressOf(IActorRef actor) =>
        actor.Path.Address.HasGlobalScope ? actor.Path.Address.ToString() : "in-process";

    private sealed record PendingJoin(JoinRequest Request, byte[] Nonce, DateTime Expires);

    private sealed record Recheck(Address Address);

    private sealed record ReachBackChecked(IActorRef Worker, JoinRequest Request, string? Why);
}
