using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DataParallel.Shared.Model;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Security;
using DataParallel.Shared.Training;

namespace DataParallel.Worker.Actors;

/// <summary>How a worker identifies itself and finds its coordinator.</summary>
public sealed record WorkerOptions(string WorkerId, string CoordinatorPath, int Threads, string? Token, string Host)
{
    public TimeSpan JoinRetry { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>What the worker announces at registration; only tests announce anything but the truth.</summary>
    public string Fingerprint { get; init; } = SeedNetFingerprint.Value;
    public int ProtocolVersion { get; init; } = ProtocolInfo.Version;
    /// <summary>CPUs for the compute thread (in-process workers; a worker process pins itself as a whole).</summary>
    public int[]? Cpus { get; init; }
}

/// <summary>Why a worker's actor system ended.</summary>
public enum WorkerExit { Finished, Refused, CoordinatorLost }

/// <summary>
/// Computes what the coordinator asks for, from exactly the parameters it is sent. States: Joining (until
/// the coordinator accepts it) and Active. It owns its model replica and runs libtorch on a pinned thread.
/// </summary>
public sealed class WorkerActor : ReceiveActor, IWithTimers
{
    private readonly WorkerOptions _options;
    private readonly TaskCompletionSource<(WorkerExit Exit, string Reason)> _exit;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ModelReplica? _replica;
    private JobSpec? _job;
    private IActorRef? _coordinator;
    private long _loadedVersion = -1;
    private float[]? _buffers;
    private readonly Dictionary<(int Epoch, int Step, int Index), MicroBatch> _prefetched = new();

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
        if (_options.Cpus is { } cpus) DataParallel.Shared.Native.CpuAffinity.PinCurrentThread(cpus);
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
        Receive<JoinChallenge>(c => Sender.Tell(new JoinProof(_options.WorkerId, JoinToken.Prove(_options.Token, c.Nonce, _options.WorkerId))));
        Receive<JoinAccepted>(a =>
        {
            Timers.Cancel("join");
            _job = a.Job;
            _replica ??= new ModelReplica(a.Job.Dropout);
            _coordinator = Sender;
            Context.Watch(_coordinator);
            _log.Info("Worker {0} joined run {1} ({2} threads)", _options.WorkerId, a.Job.RunId, _options.Threads);
            Become(Active);
        });
        Receive<JoinRefused>(r =>
        {
            Timers.Cancel("join");
            Exit(WorkerExit.Refused, r.Reason);
        });
        Receive<RunFinished>(f => Exit(WorkerExit.Finished, f.Reason));
    }

    private void Active()
    {
        Receive<ComputeGradients>(Compute);
        Receive<PrefetchBatches>(p =>
        {
            foreach (var b in p.Batches) _prefetched[(p.Epoch, p.Step, b.Index)] = b;
        });
        Receive<EvaluateChunk>(Evaluate);
        Receive<TrainReplica>(TrainReplica);
        Receive<RunFinished>(f => Exit(WorkerExit.Finished, f.Reason));
        Receive<JoinAccepted>(_ => { });
        Receive<JoinChallenge>(_ => { });
        Receive<Terminated>(t => t.ActorRef.Equals(_coordinator), _ => Exit(WorkerExit.CoordinatorLost, "the coordinator stopped"));
    }

    private void SendJoinRequest()
    {
        var request = new JoinRequest(_options.WorkerId, _options.ProtocolVersion, _options.Fingerprint, _options.Threads, _options.Host);
        Context.ActorSelection(_options.CoordinatorPath).Tell(request);
    }

    private void Compute(ComputeGradients work)
    {
        // Prefetched data of earlier steps is of no further use.
        foreach (var key in _prefetched.Keys.Where(k => (k.Epoch, k.Step).CompareTo((work.Epoch, work.Step)) < 0).ToList())
            _prefetched.Remove(key);
        var sent = work.Batches.ToDictionary(b => b.Index);
        var batches = new List<MicroBatch>(work.Indices.Length);
        foreach (var index in work.Indices)
        {
            if (sent.TryGetValue(index, out var b) || _prefetched.Remove((work.Epoch, work.Step, index), out b)) batches.Add(b);
        }
        if (batches.Count != work.Indices.Length || !Load(work.Version, work.Parameters, work.Buffers))
        {
            Sender.Tell(new InputsMissing(_options.WorkerId, work.Epoch, work.Step, work.Version));
            return;
        }
        foreach (var batch in batches)
        {
            var watch = Stopwatch.StartNew();
            GradientResult result;
            try
            {
                result = _replica!.ComputeGradients(_buffers!, batch.Images, batch.Labels, batch.AugmentSeed, batch.DropoutSeed, Augmentation());
            }
            catch (Exception e)
            {
                Failed(e, work.Epoch, work.Step, batch.Index, $"micro-batch {batch.Index} of epoch {work.Epoch} step {work.Step}");
                return;
            }
            Sender.Tell(new GradientsComputed(_options.WorkerId, work.Epoch, work.Step, batch.Index,
                result.Gradients, result.Buffers, result.Loss, result.Correct, result.Count, watch.Elapsed.TotalMilliseconds));
        }
    }

    /// <summary>
    /// A computation threw (libtorch reports its own failures as exceptions). The model may be in any state, so
    /// it is rebuilt; the coordinator is told, and hands the unit, and whatever else this worker held, out again.
    /// </summary>
    private void Failed(Exception e, int epoch, long step, int unit, string what)
    {
        _log.Error(e, "Worker {0} failed on {1}", _options.WorkerId, what);
        Sender.Tell(new UnitFailed(_options.WorkerId, epoch, step, unit, $"{e.GetType().Name}: {e.Message}"));
        _replica?.Dispose();
        _replica = new ModelReplica(_job!.Dropout);
        _loadedVersion = -1;
        _buffers = null;
        _prefetched.Clear();
    }

    private void Evaluate(EvaluateChunk chunk)
    {
        if (!Load(chunk.Version, chunk.Parameters, chunk.Buffers))
        {
            Sender.Tell(new InputsMissing(_options.WorkerId, chunk.Epoch, -1, chunk.Version));
            return;
        }
        var watch = Stopwatch.StartNew();
        EvaluationResult result;
        try
        {
            result = _replica!.Evaluate(chunk.Images, chunk.Labels);
        }
        catch (Exception e)
        {
            Failed(e, chunk.Epoch, -1, chunk.Chunk, $"evaluation chunk {chunk.Chunk} of epoch {chunk.Epoch}");
            return;
        }
        Sender.Tell(new ChunkEvaluated(_options.WorkerId, chunk.Epoch, chunk.Chunk, result.LossSum, result.Correct, result.Count, watch.Elapsed.TotalMilliseconds));
    }

    private void TrainReplica(TrainReplica round)
    {
        var watch = Stopwatch.StartNew();
        _loadedVersion = -1; // local steps move the replica away from any broadcast version
        ReplicaTrained result;
        try
        {
            result = LocalTraining.Run(_replica!, round, Augmentation());
        }
        catch (Exception e)
        {
            Failed(e, round.Epoch, round.Round, round.Replica, $"replica {round.Replica} of the round at version {round.Round}");
            return;
        }
        Sender.Tell(result with { WorkerId = _options.WorkerId, Milliseconds = watch.Elapsed.TotalMilliseconds });
    }

    /// <summary>Loads the version's parameters if they came with the message; false if they are needed and missing.</summary>
    private bool Load(long version, float[]? parameters, float[]? buffers)
    {
        if (parameters is not null && buffers is not null)
        {
            _replica!.Load(parameters, buffers);
            _buffers = buffers;
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
        _replica?.Dispose();
        _replica = null;
        _exit.TrySetResult((WorkerExit.CoordinatorLost, "worker stopped"));
    }

    private sealed class NodeUp
    {
        public static readonly NodeUp Instance = new();
    }

    private sealed class RetryJoin
    {
        public static readonly RetryJoin Instance = new();
    }
}
