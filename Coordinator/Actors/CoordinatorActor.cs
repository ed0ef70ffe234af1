using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Model;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Security;
using DataParallel.Shared.Settings;
using DataParallel.Shared.Training;

namespace DataParallel.Coordinator.Actors;

/// <summary>How a run ended, for the program's exit code.</summary>
public sealed record RunOutcome(int ExitCode, RunResult? Result, string? Error);

/// <summary>
/// Runs training: registers workers, splits every step into units (micro-batches, evaluation chunks or
/// replica rounds), hands them to whichever workers are alive, combines the results in unit order and
/// applies them. States: WaitingForWorkers -> Training -> Finished. The maths lives in
/// <see cref="TrainingRun"/>, the bookkeeping of who has what in <see cref="WorkAssignment"/>.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private readonly CoordinatorOptions _options;
    private readonly TrainingRun _run;
    private readonly IActorRef _reporter;
    private readonly TaskCompletionSource<RunOutcome> _outcome;
    private readonly CheckpointStore? _checkpoints;
    private readonly double _runSecondsBefore;
    private double _epochSecondsBefore;
    private long _lastCheckpointVersion;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly Dictionary<string, RegisteredWorker> _workers = new();
    private readonly Dictionary<string, PendingJoin> _joining = new();
    private readonly List<EpochMetrics> _history = new();
    private readonly Stopwatch _runClock = new();
    private Phase? _phase;
    private Stopwatch _epochClock = new();
    private double _epochTrainSeconds;
    private DateTime _lastWaitingNotice = DateTime.MinValue;
    private long _stale, _duplicates;

    public CoordinatorActor(CoordinatorOptions options, TrainingRun run, IActorRef reporter, TaskCompletionSource<RunOutcome> outcome,
        CheckpointStore? checkpoints = null, Checkpoint? resumedFrom = null)
    {
        _options = options;
        _run = run;
        _reporter = reporter;
        _outcome = outcome;
        _checkpoints = checkpoints;
        if (resumedFrom is not null)
        {
            _history.AddRange(resumedFrom.History);
            _runSecondsBefore = resumedFrom.RunSeconds;
            _epochSecondsBefore = resumedFrom.EpochTrainSeconds;
        }
        _lastCheckpointVersion = run.Version;
        WaitingForWorkers();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorOptions options, TrainingRun run, IActorRef reporter, TaskCompletionSource<RunOutcome> outcome,
        CheckpointStore? checkpoints = null, Checkpoint? resumedFrom = null) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(options, run, reporter, outcome, checkpoints, resumedFrom));

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));
        Timers.StartPeriodicTimer("tick", Tick.Instance, _options.Tick);
        // A resumed run whose last checkpoint is its end has nothing left to train.
        if (_run.Finished && _history.Count > 0) Finish(_history[^1]);
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        _outcome.TrySetResult(new RunOutcome(2, null, "coordinator stopped before the run ended"));
    }

    // ---------------------------------------------------------------- states

    private void WaitingForWorkers()
    {
        Membership();
        Receive<Tick>(_ =>
        {
            if (_workers.Count < _options.ExpectedWorkers) NoticeWaiting();
        });
        Receive<WorkerRegistered>(_ =>
        {
            if (_workers.Count < _options.ExpectedWorkers) return;
            Become(Training);
            _runClock.Start();
            StartEpoch();
        });
        Receive<Abort>(a => Fail(a.Reason, a.ExitCode));
    }

    private void Training()
    {
        Membership();
        Receive<WorkerRegistered>(_ => DispatchAll());
        Receive<GradientsComputed>(OnGradients);
        Receive<ChunkEvaluated>(OnChunkEvaluated);
        Receive<ReplicaTrained>(OnReplicaTrained);
        Receive<InputsMissing>(OnInputsMissing);
        Receive<UnitFailed>(OnUnitFailed);
        Receive<Tick>(_ => OnTick());
        Receive<Abort>(a => Fail(a.Reason, a.ExitCode));
    }

    private void Finished()
    {
        Receive<JoinRequest>(r => Sender.Tell(new JoinRefused(r.WorkerId, "the run has finished")));
        ReceiveAny(_ => { });
    }

    /// <summary>Registration and cluster membership: the same in every state but Finished.</summary>
    private void Membership()
    {
        Receive<JoinRequest>(OnJoinRequest);
        Receive<JoinProof>(OnJoinProof);
        // Unreachable for a moment is not lost: a node waking from a freeze reports everybody unreachable until
        // its first heartbeats arrive. Only a member that is still unreachable after the grace is given up.
        Receive<ClusterEvent.UnreachableMember>(e => Timers.StartSingleTimer(e.Member.Address, new RecheckReachability(e.Member.Address), _options.UnreachableGrace));
        Receive<ClusterEvent.ReachableMember>(e => Timers.Cancel(e.Member.Address));
        Receive<RecheckReachability>(r =>
        {
            if (_cluster.State.Unreachable.Any(m => m.Address.Equals(r.Address))) LoseWorkersAt(r.Address, "unreachable", down: true);
        });
        Receive<ClusterEvent.MemberRemoved>(e => LoseWorkersAt(e.Member.Address, "left the cluster", down: false));
        Receive<Terminated>(t =>
        {
            var entry = _workers.Values.FirstOrDefault(w => w.Ref.Equals(t.ActorRef));
            if (entry is null) return;
            // A worker stopped with SIGTERM leaves the cluster first; its actor's end may arrive before MemberRemoved.
            var member = _cluster.State.Members.FirstOrDefault(m => m.Address.Equals(t.ActorRef.Path.Address));
            var left = t.AddressTerminated || member is null || member.Status is MemberStatus.Leaving or MemberStatus.Exiting;
            LoseWorker(entry.Id, left ? "left the cluster" : "stopped");
        });
    }

    // ---------------------------------------------------------------- registration

    private void OnJoinRequest(JoinRequest request)
    {
        string? problem = null;
        if (request.ProtocolVersion != ProtocolInfo.Version)
            problem = $"protocol version {request.ProtocolVersion} does not match the coordinator's {ProtocolInfo.Version}";
        else if (request.ModelFingerprint != _run.Layout.Fingerprint)
            problem = $"model fingerprint {request.ModelFingerprint} does not match the coordinator's {_run.Layout.Fingerprint} (a different model architecture)";
        if (problem is not null)
        {
            Refuse(request.WorkerId, Sender, problem);
            return;
        }
        if (_workers.TryGetValue(request.WorkerId, out var known))
        {
            if (known.Ref.Equals(Sender))
            {
                // A retried request from a worker we already accepted: answer again, idempotently.
                Sender.Tell(new JoinAccepted(request.WorkerId, _run.Job(_options.RunId)));
                return;
            }
            // The same worker id from a new actor system: the old incarnation is gone.
            LoseWorker(known.Id, "restarted");
        }
        var nonce = JoinToken.NewNonce();
        _joining[request.WorkerId] = new PendingJoin(request, nonce);
        Sender.Tell(new JoinChallenge(request.WorkerId, nonce));
    }

    private void OnJoinProof(JoinProof proof)
    {
        if (!_joining.Remove(proof.WorkerId, out var pending)) return;
        if (_options.Token is not null && !JoinToken.Verify(_options.Token, pending.Nonce, proof.WorkerId, proof.Proof))
        {
            Refuse(proof.WorkerId, Sender, "wrong or missing join token");
            return;
        }
        var entry = new RegisteredWorker(proof.WorkerId, Sender, pending.Request.Threads, pending.Request.Host);
        _workers[entry.Id] = entry;
        Context.Watch(Sender);
        Sender.Tell(new JoinAccepted(entry.Id, _run.Job(_options.RunId)));
        _reporter.Tell(new WorkerJoined(entry.Id, AddressOf(Sender), entry.Threads, _workers.Count, _options.ExpectedWorkers));
        Self.Tell(WorkerRegistered.Instance);
    }

    private void Refuse(string workerId, IActorRef worker, string reason)
    {
        worker.Tell(new JoinRefused(workerId, reason));
        _reporter.Tell(new WorkerRefusedNotice(workerId, AddressOf(worker), reason));
        // A refused process leaves by itself; downing its node as well keeps it out of the cluster for good.
        var address = worker.Path.Address;
        if (address.HasGlobalScope && !address.Equals(_cluster.SelfAddress))
            Context.System.Scheduler.Advanced.ScheduleOnce(TimeSpan.FromSeconds(1), () => _cluster.Down(address));
    }

    private void LoseWorkersAt(Address address, string reason, bool down)
    {
        foreach (var entry in _workers.Values.Where(w => w.Ref.Path.Address.Equals(address)).ToList())
            LoseWorker(entry.Id, reason);
        if (down && !address.Equals(_cluster.SelfAddress)) _cluster.Down(address);
    }

    private void LoseWorker(string workerId, string reason)
    {
        if (!_workers.Remove(workerId, out var entry)) return;
        Context.Unwatch(entry.Ref);
        var released = _phase?.Assignment.Release(workerId) ?? [];
        entry.Stats.Failures += released.Count;
        _reporter.Tell(new WorkerLeft(workerId, reason, _workers.Count, _options.ExpectedWorkers, released.Count));
        if (_workers.Count == 0) NoticeWaiting(force: true);
        DispatchAll();
    }

    private void NoticeWaiting(bool force = false)
    {
        var now = DateTime.UtcNow;
        if (!force && now - _lastWaitingNotice < _options.WaitingNoticeEvery) return;
        _lastWaitingNotice = now;
        _reporter.Tell(new Notice($"waiting for workers: {_workers.Count}/{_options.ExpectedWorkers}"));
    }

    // ---------------------------------------------------------------- phases

    private void StartEpoch()
    {
        _epochClock = Stopwatch.StartNew();
        foreach (var w in _workers.Values) w.Stats = new WorkerStats();
        StartTrainingPhase();
    }

    private void StartTrainingPhase()
    {
        _phase = _run.Settings.Sync == SyncMode.Grads
            ? new StepPhase(_run.Epoch, _run.Step, _run.Version, _run.MicroBatches().Count)
            : new RoundPhase(_run.Epoch, _run.Version, _run.Replicas);
        DispatchAll();
        if (_phase is StepPhase step) Prefetch(step);
    }

    /// <summary>
    /// Sends each worker, while it computes this step, the data of the micro-batches it will most likely get
    /// in the next one (the same indices as now), so that only parameters and gradients wait on the network.
    /// </summary>
    private void Prefetch(StepPhase current)
    {
        var next = current.Step + 1;
        if (next >= _run.StepsPerEpoch) return;
        var nextCount = _run.MicroBatchCount(next);
        foreach (var worker in _workers.Values)
        {
            worker.Prefetched.RemoveWhere(k => (k.Epoch, k.Step).CompareTo((current.Epoch, current.Step)) < 0);
            var batches = current.Assignment.UnitsWith(worker.Id)
                .Where(u => u < nextCount && worker.Prefetched.Add((current.Epoch, next, u)))
                .Select(u => _run.BuildMicroBatch(next, u))
                .ToArray();
            if (batches.Length > 0) worker.Ref.Tell(new PrefetchBatches(current.Epoch, next, batches));
        }
    }

    private void StartEvaluation()
    {
        _epochTrainSeconds = _epochClock.Elapsed.TotalSeconds + _epochSecondsBefore;
        _phase = new EvalPhase(_run.Epoch, _run.Version, _run.EvalChunks);
        DispatchAll();
    }

    private void DispatchAll()
    {
        if (_phase is null) return;
        // Least-loaded first, then by id, so the assignment does not depend on dictionary order.
        foreach (var worker in _workers.Values.OrderBy(w => _phase.Assignment.InFlightWith(w.Id)).ThenBy(w => w.Id, StringComparer.Ordinal))
            Dispatch(worker);
    }

    private void Dispatch(RegisteredWorker worker)
    {
        var phase = _phase!;
        var window = phase switch
        {
            StepPhase s => (s.Assignment.Units + _workers.Count - 1) / Math.Max(1, _workers.Count),
            EvalPhase => 2,
            _ => 1,
        };
        var room = window - phase.Assignment.InFlightWith(worker.Id);
        if (room <= 0 || phase.Assignment.PendingCount == 0) return;
        var units = phase is StepPhase step
            ? phase.Assignment.Assign(worker.Id, room, DateTime.UtcNow, u => worker.Prefetched.Contains((step.Epoch, step.Step, u)))
            : phase.Assignment.Assign(worker.Id, room, DateTime.UtcNow);
        Send(worker, units);
    }

    private void Send(RegisteredWorker worker, IReadOnlyList<int> units)
    {
        if (units.Count == 0) return;
        var withParameters = worker.SentVersion != _phase!.Version;
        switch (_phase)
        {
            case StepPhase s:
                var batches = units.Where(u => !worker.Prefetched.Remove((s.Epoch, s.Step, u))).Select(u => _run.BuildMicroBatch(s.Step, u)).ToArray();
                worker.Ref.Tell(new ComputeGradients(s.Epoch, s.Step, s.Version,
                    withParameters ? _run.Parameters : null, withParameters ? _run.Buffers : null, units.ToArray(), batches));
                break;
            case EvalPhase e:
                foreach (var chunk in units)
                {
                    var (images, labels) = _run.EvalChunk(chunk);
                    worker.Ref.Tell(new EvaluateChunk(e.Epoch, chunk, e.Version,
                        withParameters ? _run.Parameters : null, withParameters ? _run.Buffers : null, images, labels));
                    withParameters = false;
                }
                break;
            case RoundPhase:
                foreach (var replica in units) worker.Ref.Tell(_run.BuildReplicaRound(replica));
                withParameters = false; // each round message carries its own state; the worker's loaded version is gone
                worker.SentVersion = -1;
                return;
        }
        worker.SentVersion = _phase.Version;
    }

    // ---------------------------------------------------------------- results

    private TimeSpan? _lastRoundTrip;

    private bool Accept(string workerId, int epoch, long version, int unit, Type kind)
    {
        _lastRoundTrip = null;
        if (_workers.TryGetValue(workerId, out var replying)) replying.LastReply = DateTime.UtcNow;
        var phase = _phase;
        if (phase is null || phase.GetType() != kind || phase.Epoch != epoch || phase.Version != version || !_workers.TryGetValue(workerId, out _))
        {
            _stale++;
            return false;
        }
        var sent = phase.Assignment.SentAt(unit, workerId);
        if (!phase.Assignment.Complete(unit, workerId))
        {
            _duplicates++;
            return false;
        }
        _lastRoundTrip = DateTime.UtcNow - sent;
        return true;
    }

    private void OnGradients(GradientsComputed g)
    {
        var version = _phase is StepPhase sp && sp.Step == g.Step ? sp.Version : -1;
        if (!Accept(g.WorkerId, g.Epoch, version, g.Index, typeof(StepPhase))) { DispatchIdle(g.WorkerId); return; }
        var phase = (StepPhase)_phase!;
        var worker = _workers[g.WorkerId];
        worker.Stats.Record(g.Milliseconds, _lastRoundTrip);
        if (!TrainingRun.Finite(g.Gradients) || !TrainingRun.Finite(g.Buffers))
        {
            if (RetryNonFinite(phase, g.Index, g.WorkerId)) return;
            Fail($"epoch {g.Epoch} step {g.Step} micro-batch {g.Index}: gradients are not finite, also when recomputed by another worker", 3);
            return;
        }
        phase.Combiner.Add(g.Index, new GradientResult(g.Gradients, g.Buffers, g.Loss, g.Correct, g.Count));
        _reporter.Tell(new UnitCompleted(g.WorkerId, g.Epoch, g.Count));
        if (!phase.Assignment.AllDone) { Dispatch(worker); return; }

        var combined = phase.Combiner.Combine();
        try { _run.ApplyStep(combined); }
        catch (NonFiniteException e) { Fail(e.Message, 3); return; }
        _reporter.Tell(new StepCompleted(phase.Epoch, phase.Step, _run.StepsPerEpoch, combined.Loss,
            combined.Count, _run.EpochExamples, _epochClock.Elapsed.TotalSeconds, _workers.Count, _run.LastSchedule.LearningRate));
        AfterTrainingPhase();
    }

    private void OnReplicaTrained(ReplicaTrained r)
    {
        if (!Accept(r.WorkerId, r.Epoch, r.Round, r.Replica, typeof(RoundPhase))) { DispatchIdle(r.WorkerId); return; }
        var phase = (RoundPhase)_phase!;
        var worker = _workers[r.WorkerId];
        worker.Stats.Record(r.Milliseconds, _lastRoundTrip);
        if (!TrainingRun.Finite(r.Parameters))
        {
            if (RetryNonFinite(phase, r.Replica, r.WorkerId)) return;
            Fail($"epoch {r.Epoch} round {r.Round} replica {r.Replica}: parameters are not finite, also when recomputed by another worker", 3);
            return;
        }
        phase.Results[r.Replica] = r;
        _reporter.Tell(new UnitCompleted(r.WorkerId, r.Epoch, r.Count));
        if (!phase.Assignment.AllDone) { Dispatch(worker); return; }
        try { _run.ApplyRound(phase.Results!); }
        catch (NonFiniteException e) { Fail(e.Message, 3); return; }
        var examples = phase.Results.Sum(x => x!.Count);
        _reporter.Tell(new StepCompleted(phase.Epoch, _run.Step - 1, _run.StepsPerEpoch, phase.Results.Sum(x => x!.LossSum) / Math.Max(1, examples),
            examples, _run.EpochExamples, _epochClock.Elapsed.TotalSeconds, _workers.Count, _run.LastSchedule.LearningRate));
        AfterTrainingPhase();
    }

    private void AfterTrainingPhase()
    {
        if (_run.EpochTrained) { StartEvaluation(); return; }
        if (_options.CheckpointEverySteps > 0 && _run.Version - _lastCheckpointVersion >= _options.CheckpointEverySteps && !SaveCheckpoint()) return;
        StartTrainingPhase();
    }

    /// <summary>Writes a checkpoint at the current step boundary; false (and the run failed) if it cannot be written.</summary>
    private bool SaveCheckpoint()
    {
        if (_checkpoints is null) return true;
        try
        {
            _checkpoints.Save(_run.Snapshot(_options.RunId, _run.EpochTrained ? 0 : _epochClock.Elapsed.TotalSeconds + _epochSecondsBefore, RunSeconds, _history));
            _lastCheckpointVersion = _run.Version;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail($"cannot write a checkpoint in {_checkpoints.Directory}: {e.Message}", 2);
            return false;
        }
    }

    private double RunSeconds => _runSecondsBefore + _runClock.Elapsed.TotalSeconds;

    private void OnChunkEvaluated(ChunkEvaluated c)
    {
        if (!Accept(c.WorkerId, c.Epoch, _phase?.Version ?? -1, c.Chunk, typeof(EvalPhase))) { DispatchIdle(c.WorkerId); return; }
        var phase = (EvalPhase)_phase!;
        phase.Results[c.Chunk] = new EvaluationResult(c.LossSum, c.Correct, c.Count);
        var worker = _workers[c.WorkerId];
        if (!phase.Assignment.AllDone) { Dispatch(worker); return; }
        CompleteEpoch(phase);
    }

    private void CompleteEpoch(EvalPhase phase)
    {
        double lossSum = 0;
        int correct = 0, count = 0;
        foreach (var r in phase.Results) { lossSum += r!.LossSum; correct += r.Correct; count += r.Count; }
        var epoch = _run.Epoch;
        var lr = _run.LastSchedule.LearningRate;
        var training = _run.CompleteEpoch();
        var seconds = _epochClock.Elapsed.TotalSeconds;
        var computeSeconds = _workers.Values.Sum(w => w.Stats.ComputeSeconds);
        var metrics = new EpochMetrics(epoch, training.Loss, training.Accuracy, lossSum / count, (double)correct / count,
            seconds, _epochTrainSeconds, training.Examples / _epochTrainSeconds, _workers.Count, lr,
            _workers.Values.OrderBy(w => w.Id, StringComparer.Ordinal).Select(w => w.Stats.Summary(w.Id)).ToList())
        {
            Utilization = computeSeconds / (_epochTrainSeconds * Math.Max(1, _workers.Count)),
        };
        _history.Add(metrics);
        _epochSecondsBefore = 0;
        _reporter.Tell(new EpochCompleted(metrics));
        if (!SaveCheckpoint()) return;
        if (_run.Finished) Finish(metrics);
        else StartEpoch();
    }

    private void Finish(EpochMetrics last)
    {
        _phase = null;
        var result = new RunResult(_options.RunId, last.Epoch, last.TestAccuracy, last.TestLoss, last.TrainAccuracy, _run.Sha256(),
            RunSeconds, _stale, _duplicates, _history.ToList());
        foreach (var w in _workers.Values) w.Ref.Tell(new RunFinished(_options.RunId, "training complete"));
        _reporter.Tell(new RunCompleted(result));
        _outcome.TrySetResult(new RunOutcome(0, result, null));
        Become(Finished);
    }

    private void Fail(string reason, int exitCode)
    {
        _phase = null;
        foreach (var w in _workers.Values) w.Ref.Tell(new RunFinished(_options.RunId, reason));
        _reporter.Tell(new RunFailed(reason, exitCode));
        _outcome.TrySetResult(new RunOutcome(exitCode, null, reason));
        Become(Finished);
    }

    private void OnInputsMissing(InputsMissing m)
    {
        if (!_workers.TryGetValue(m.WorkerId, out var worker) || _phase is null || _phase.Version != m.Version) return;
        // The worker lost what we sent it (it restarted): give its units back and send them again, with parameters.
        var released = _phase.Assignment.Release(m.WorkerId);
        worker.SentVersion = -1;
        worker.Prefetched.Clear();
        _log.Warning("Worker {0} was missing parameters of version {1}; resending {2} unit(s)", m.WorkerId, m.Version, released.Count);
        Dispatch(worker);
    }

    /// <summary>
    /// A worker's computation threw. Its units go to whoever is free (itself included: it has rebuilt its model).
    /// A unit that fails <see cref="MaxUnitFailures"/> times fails the run: that is a bug, not bad luck.
    /// </summary>
    private void OnUnitFailed(UnitFailed f)
    {
        var phase = _phase;
        var current = phase switch
        {
            StepPhase s => f.Step == s.Step,
            EvalPhase => f.Step == -1,
            RoundPhase r => f.Step == r.Version,
            _ => false,
        };
        if (phase is null || !current || phase.Epoch != f.Epoch || !_workers.TryGetValue(f.WorkerId, out var worker)) { _stale++; return; }
        worker.Stats.Failures++;
        var failures = phase.Failures[f.Unit] = phase.Failures.GetValueOrDefault(f.Unit) + 1;
        if (failures >= MaxUnitFailures)
        {
            Fail($"unit {f.Unit} of epoch {f.Epoch} failed {failures} times (last on worker {f.WorkerId}: {f.Error})", 2);
            return;
        }
        var released = phase.Assignment.Release(f.WorkerId);
        worker.SentVersion = -1;
        worker.Prefetched.Clear();
        _reporter.Tell(new Notice($"worker {f.WorkerId} failed on unit {f.Unit} of epoch {f.Epoch}: {f.Error}; {released.Count} unit(s) handed out again", Warning: true));
        DispatchAll();
    }

    private const int MaxUnitFailures = 3;

    /// <summary>A non-finite result is computed once more by another worker; false if that was the second time.</summary>
    private bool RetryNonFinite(Phase phase, int unit, string workerId)
    {
        if (!phase.Retried.Add(unit)) return false;
        _reporter.Tell(new Notice($"worker {workerId} returned non-finite values for unit {unit} of epoch {phase.Epoch}; recomputing it elsewhere", Warning: true));
        phase.Assignment.Reopen(unit);
        var other = _workers.Values.Where(w => w.Id != workerId).OrderBy(w => phase.Assignment.InFlightWith(w.Id)).ThenBy(w => w.Id, StringComparer.Ordinal).FirstOrDefault()
                    ?? _workers[workerId];
        Send(other, phase.Assignment.Assign(other.Id, 1, DateTime.UtcNow));
        return true;
    }

    private void DispatchIdle(string workerId)
    {
        if (_phase is not null && _workers.TryGetValue(workerId, out var worker)) Dispatch(worker);
    }

    // ---------------------------------------------------------------- deadlines

    private void OnTick()
    {
        if (_phase is null) return;
        if (_workers.Count == 0) { NoticeWaiting(); return; }
        var now = DateTime.UtcNow;

        // A worker holding work with no reply for WorkerTimeout is dead, whatever the failure detector thinks yet.
        foreach (var (unit, workerId, age) in _phase.Assignment.Overdue(now, _options.WorkerTimeout))
        {
            if (_workers.TryGetValue(workerId, out var w) && now - w.LastReply > _options.WorkerTimeout)
            {
                LoseWorker(workerId, $"no reply for {age.TotalSeconds:F0} s");
                // Down it too: if it is alive after all, it comes back as a new member with fresh state.
                var address = w.Ref.Path.Address;
                if (address.HasGlobalScope && !address.Equals(_cluster.SelfAddress)) _cluster.Down(address);
            }
        }

        var mean = _workers.Values.Select(w => w.Stats.Mean).Where(m => m > 0).DefaultIfEmpty(0).Average();
        var deadline = StragglerPolicy.Deadline(_options.StragglerMinimum, _options.StragglerFactor, mean, _phase.Assignment.Units, _workers.Count);
        foreach (var (unit, workerId, age) in _phase.Assignment.Overdue(now, deadline))
        {
            var idle = _workers.Values.Where(w => w.Id != workerId && _phase.Assignment.InFlightWith(w.Id) == 0)
                .OrderBy(w => w.Id, StringComparer.Ordinal).FirstOrDefault();
            if (idle is null) break;
            _phase.Assignment.Duplicate(unit, idle.Id, now);
            if (_workers.TryGetValue(workerId, out var slow)) slow.Stats.Straggled++;
            _reporter.Tell(new Notice($"straggler: worker {workerId} has held unit {unit} of epoch {_phase.Epoch} for {age.TotalSeconds:F1} s; also sent to {idle.Id}", Warning: true));
            Send(idle, [unit]);
        }
    }

    private static string AddressOf(IActorRef actor) =>
        actor.Path.Address.HasGlobalScope ? actor.Path.Address.ToString() : "in-process";

    // ---------------------------------------------------------------- private state and messages

    private sealed record PendingJoin(JoinRequest Request, byte[] Nonce);

    private sealed record RecheckReachability(Address Address);

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed class WorkerRegistered
    {
        public static readonly WorkerRegistered Instance = new();
    }

    /// <summary>Stop the run (Ctrl-C, or a fatal error outside the actor).</summary>
    public sealed record Abort(string Reason, int ExitCode);
}
