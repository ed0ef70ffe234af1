using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Model;
using DataParallel.Shared.Native;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Security;
using DataParallel.Shared.Serialization;
using DataParallel.Shared.Training;
using DataParallel.Shared.Transport;

namespace DataParallel.Shared.Actors;

/// <summary>How a worker identifies itself and finds its coordinator.</summary>
public sealed record WorkerOptions(string WorkerId, string CoordinatorPath, int Threads, string? Token, string Host)
{
    public TimeSpan JoinRetry { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>What the worker announces at registration; only tests announce anything but the truth.</summary>
    public string Fingerprint { get; init; } = SeedNetFingerprint.Value;
    public int ProtocolVersion { get; init; } = ProtocolInfo.Version;
    /// <summary>CPUs for the compute thread (in-process workers; a worker process pins itself as a whole).</summary>
    public int[]? Cpus { get; init; }
    /// <summary>Where to open a data channel when the coordinator offers one; null (in-process workers): never.</summary>
    public DataTarget? Data { get; init; }
}

/// <summary>The coordinator's host as this worker reaches it, and the TLS certificate of the run (null: plain TCP).</summary>
public sealed record DataTarget(string Host, ClusterTls? Tls)
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>Why a worker's actor system ended.</summary>
public enum WorkerExit { Finished, Refused, CoordinatorLost }

/// <summary>
/// Computes what the coordinator asks for, from exactly the parameters it is sent. States: Joining (until the
/// coordinator accepts it) and Active. It owns its model replica and runs libtorch on a pinned thread. Shared by both
/// programs: the Worker runs it in its own process, the coordinator's --in-process mode inside its actor system.
/// Once joined, it takes work and orders from the coordinator that accepted it and from nobody else.
/// </summary>
public sealed class WorkerActor : ReceiveActor, IWithTimers
{
    private readonly WorkerOptions _options;
    private readonly TaskCompletionSource<(WorkerExit Exit, string Reason)> _exit;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    // Micro-batches sent ahead of their step, and what the worker made of them while it waited for that step.
    private readonly Dictionary<(int Epoch, int Step, int Index), Ahead> _ahead = new();
    private ModelReplica? _replica;
    private JobSpec? _job;
    private IActorRef? _coordinator;
    private long _loadedVersion = -1;
    private DataChannel? _channel;
    // The worker's challenge to whoever answers its join: with a token, only its holder can accept the worker.
    private readonly byte[] _nonce = JoinToken.NewNonce();

    public WorkerActor(WorkerOptions options, TaskCompletionSource<(WorkerExit, string)> exit)
    {
        _options = options;
        _exit = exit;
        Joining();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(WorkerOptions options, TaskCompletionSource<(WorkerExit, string)> exit) =>
        Akka.Actor.Props.Create(() => new WorkerActor(options, exit)).WithDispatcher("akka.compute-dispatcher");

    protected override void PreStart()
    {
        // PreStart runs on the pinned dispatcher's thread: the thread every computation of this actor runs on.
        if (_options.Cpus is { } cpus) CpuAffinity.PinCurrentThread(cpus);
        var self = Self;
        Akka.Cluster.Cluster.Get(Context.System).RegisterOnMemberUp(() => self.Tell(NodeUp.Instance));
    }

    private void Joining()
    {
        Receive<NodeUp>(_ =>
        {
            SendJoinRequest();
            Timers.StartPeriodicTimer("join", RetryJoin.Instance, _options.JoinRetry);
        });
        Receive<RetryJoin>(_ => SendJoinRequest());
        Receive<JoinChallenge>(FromCoordinatorPath,
            c => Sender.Tell(new JoinProof(_options.WorkerId, JoinToken.Prove(_options.Token, c.Nonce, _options.WorkerId))));
        Receive<JoinAccepted>(a => FromCoordinatorPath(a)
            && (_options.Token is null || JoinToken.VerifyCoordinator(_options.Token, _nonce, _options.WorkerId, a.Proof)), a =>
        {
            Timers.Cancel("join");
            _job = a.Job;
            _replica ??= new ModelReplica(a.Job.Dropout, a.Job.ChannelsLast);
            _coordinator = Sender;
            Context.Watch(_coordinator);
            _log.Info("Worker {0} joined run {1} ({2} threads)", _options.WorkerId, a.Job.RunId, _options.Threads);
            Become(Active);
            if (a.DataPort > 0 && a.Ticket is { } ticket && _options.Data is { } data) OpenDataChannel(data, a.DataPort, ticket);
        });
        Receive<JoinRefused>(FromCoordinatorPath, r =>
        {
            Timers.Cancel("join");
            Exit(WorkerExit.Refused, r.Reason);
        });
    }

    private void Active()
    {
        Receive<ComputeGradients>(FromCoordinator, Compute);
        Receive<PrefetchBatches>(FromCoordinator, p =>
        {
            foreach (var b in p.Batches)
            {
                if (_ahead.Remove((p.Epoch, p.Step, b.Index), out var earlier)) earlier.Dispose();
                _ahead[(p.Epoch, p.Step, b.Index)] = new Ahead(b);
            }
            PrepareAhead(p);
        });
        Receive<EvaluateChunk>(FromCoordinator, Evaluate);
        Receive<TrainReplica>(FromCoordinator, TrainReplica);
        Receive<RunFinished>(FromCoordinator, f => Exit(WorkerExit.Finished, f.Reason));
        Receive<DataChannelOpened>(o =>
        {
            _channel?.Dispose();
            _channel = o.Channel;
            _channel.Start();
            _log.Info("Worker {0}: data channel to {1} open", _options.WorkerId, o.Channel.Peer);
        });
        Receive<DataChannelFailed>(f => _log.Warning(
            "Worker {0}: no data channel to the coordinator at {1} ({2}); the work comes through Akka.Remote, which is slower: "
            + "open that port to this worker", _options.WorkerId, f.Where, f.Why));
        Receive<DataChannelClosed>(c =>
        {
            if (!ReferenceEquals(c.Channel, _channel)) return;
            _channel = null;
            _log.Warning("Worker {0}: data channel closed ({1}); the work goes on through Akka.Remote", _options.WorkerId, c.Why);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_coordinator), _ => Exit(WorkerExit.CoordinatorLost, "the coordinator stopped"));
        Receive<IProtocolMessage>(m => _log.Warning("Dropped {0} from {1}: not from this worker's coordinator", m.GetType().Name, Sender.Path));
    }

    private bool FromCoordinator(object _) => Sender.Equals(_coordinator);

    /// <summary>
    /// Opens the data channel the coordinator offered, off this thread. What arrives through it is delivered in the
    /// coordinator's name: only the coordinator holds the ticket's other end.
    /// </summary>
    private void OpenDataChannel(DataTarget data, int port, byte[] ticket)
    {
        var (self, coordinator) = (Self, _coordinator!);
        var serializer = ProtocolSerializer.Of(Context.System);
        var where = $"{data.Host}:{port}";
        DataChannelHello.ConnectAsync(data.Host, port, data.Tls, ticket, serializer,
                message => self.Tell(message, coordinator), (channel, why) => self.Tell(new DataChannelClosed(channel, why)), data.Timeout)
            .ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) self.Tell(new DataChannelOpened(t.Result));
                else self.Tell(new DataChannelFailed(where, t.Exception?.GetBaseException().Message ?? "cancelled"));
            }, TaskScheduler.Default);
    }

    /// <summary>A reply to the coordinator: through the data channel if one is open, else through Akka.Remote.</summary>
    private void Reply(IUnitReply reply)
    {
        if (_channel is null || !_channel.TrySend(reply)) _coordinator!.Tell(reply, Self);
    }

    // Before it joins, the worker answers only actors at the path it asked (the address part a peer may claim freely:
    // the token proof in JoinAccepted, or TLS, is what authenticates).
    private bool FromCoordinatorPath(object _) => Sender.Path.ToStringWithoutAddress() ==
        (ActorPath.TryParse(_options.CoordinatorPath, out var path) ? path!.ToStringWithoutAddress() : _options.CoordinatorPath);

    private void SendJoinRequest() =>
        Context.ActorSelection(_options.CoordinatorPath)
            .Tell(new JoinRequest(_options.WorkerId, _options.ProtocolVersion, _options.Fingerprint, _options.Threads, _options.Host, _nonce));

    private void Compute(ComputeGradients work)
    {
        // What came ahead for earlier steps is of no further use.
        Drop(k => (k.Epoch, k.Step).CompareTo((work.Epoch, work.Step)) < 0);
        var sent = work.Batches.ToDictionary(b => b.Index);
        MicroBatch? Find(int index) =>
            sent.TryGetValue(index, out var b) ? b : _ahead.TryGetValue((work.Epoch, work.Step, index), out var a) ? a.Batch : null;
        var batches = work.Indices.Select(Find).OfType<MicroBatch>().ToList();
        if (batches.Count != work.Indices.Length || !Load(work.Version, work.Parameters, work.Buffers))
        {
            Reply(new InputsMissing(work.Unit(work.Indices.FirstOrDefault())));
            return;
        }
        foreach (var batch in batches)
        {
            var unit = work.Unit(batch.Index);
            // What was prepared ahead, unless the coordinator sent the micro-batch again: then it is made from what was sent.
            _ahead.Remove((work.Epoch, work.Step, batch.Index), out var ahead);
            var prepared = sent.ContainsKey(batch.Index) ? null : ahead?.TakePrepared();
            ahead?.Dispose();
            var ok = Run(unit, () =>
            {
                using var ready = prepared ?? _replica!.Prepare(batch, Augmentation());
                return _replica!.ComputeGradients(ready);
            }, out var result, out var ms);
            if (!ok) return;
            Reply(new GradientsComputed(unit, result, ms));
        }
    }

    /// <summary>
    /// Prepares the micro-batches sent ahead for the next step (their inputs, labels and dropout masks depend on their
    /// seeds, not on the parameters) in the time this worker waits for that step's parameters: the coordinator sends
    /// them after a step's work, so they are handled once that work is done. A failure here is left to the step
    /// itself, which prepares the micro-batch again and reports what happens.
    /// </summary>
    private void PrepareAhead(PrefetchBatches prefetch)
    {
        foreach (var b in prefetch.Batches)
        {
            try
            {
                _ahead[(prefetch.Epoch, prefetch.Step, b.Index)].Prepare(_replica!, Augmentation());
            }
            catch (Exception e)
            {
                _log.Warning("Worker {0}: could not prepare micro-batch {1} of step {2} ahead: {3}",
                    _options.WorkerId, b.Index, prefetch.Step, e.Message);
                return;
            }
        }
    }

    private void Drop(Func<(int Epoch, int Step, int Index), bool> which)
    {
        foreach (var key in _ahead.Keys.Where(which).ToList())
            if (_ahead.Remove(key, out var ahead)) ahead.Dispose();
    }

    private void Evaluate(EvaluateChunk chunk)
    {
        if (!Load(chunk.Unit.Version, chunk.Parameters, chunk.Buffers))
        {
            Reply(new InputsMissing(chunk.Unit));
            return;
        }
        if (Run(chunk.Unit, () => _replica!.Evaluate(chunk.Images, chunk.Labels), out var result, out var ms))
            Reply(new ChunkEvaluated(chunk.Unit, result, ms));
    }

    private void TrainReplica(TrainReplica round)
    {
        _loadedVersion = -1; // local steps move the replica away from any broadcast version
        if (Run(round.Unit, () => LocalTraining.Run(_replica!, round, Augmentation()), out var result, out var ms))
            Reply(new ReplicaTrained(round.Unit, result, ms));
    }

    /// <summary>
    /// Runs one unit's computation and times it. When it throws (libtorch reports its own failures as exceptions) the
    /// model may be in any state, so it is rebuilt; the coordinator is told, and hands the unit, and whatever else this
    /// worker held, out again.
    /// </summary>
    private bool Run<T>(UnitId unit, Func<T> compute, out T result, out double milliseconds)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            result = compute();
            milliseconds = watch.Elapsed.TotalMilliseconds;
            return true;
        }
        catch (Exception e)
        {
            _log.Error(e, "Worker {0} failed on {1}", _options.WorkerId, unit);
            Reply(new UnitFailed(unit, $"{e.GetType().Name}: {e.Message}"));
            _replica?.Dispose();
            _replica = new ModelReplica(_job!.Dropout, _job.ChannelsLast);
            _loadedVersion = -1;
            Drop(_ => true);
            result = default!;
            milliseconds = 0;
            return false;
        }
    }

    /// <summary>Loads the version's parameters if they came with the message; false if they are needed and missing.</summary>
    private bool Load(long version, float[]? parameters, float[]? buffers)
    {
        if (parameters is not null && buffers is not null)
        {
            _replica!.Load(parameters, buffers);
            _loadedVersion = version;
            return true;
        }
        return version == _loadedVersion;
    }

    private Augmentation Augmentation() => new(_job!.AugmentDegrees, _job.AugmentTranslate);

    private void Exit(WorkerExit exit, string reason)
    {
        _exit.TrySetResult((exit, reason));
        Context.Stop(Self);
    }

    protected override void PostStop()
    {
        _channel?.Dispose();
        Drop(_ => true);
        _replica?.Dispose();
        _replica = null;
        _exit.TrySetResult((WorkerExit.CoordinatorLost, "worker stopped"));
    }

    /// <summary>A micro-batch sent ahead of its step, and once the worker has had the time, its tensors.</summary>
    private sealed class Ahead(MicroBatch batch) : IDisposable
    {
        private PreparedBatch? _prepared;

        public MicroBatch Batch { get; } = batch;

        public void Prepare(ModelReplica replica, Augmentation augmentation) => _prepared ??= replica.Prepare(Batch, augmentation);

        /// <summary>The prepared tensors, now the caller's to dispose (null if not prepared).</summary>
        public PreparedBatch? TakePrepared()
        {
            var prepared = _prepared;
            _prepared = null;
            return prepared;
        }

        public void Dispose() => _prepared?.Dispose();
    }

    private sealed record DataChannelOpened(DataChannel Channel);

    private sealed record DataChannelFailed(string Where, string Why);

    private sealed record DataChannelClosed(DataChannel Channel, string Why);

    private sealed class NodeUp
    {
        public static readonly NodeUp Instance = new();
    }

    private sealed class RetryJoin
    {
        public static readonly RetryJoin Instance = new();
    }
}
