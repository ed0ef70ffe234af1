using System.Diagnostics;
using Akka.Actor;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Coordinator.Transport;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Settings;
using static DataParallel.Coordinator.Actors.MembershipActor;

namespace DataParallel.Coordinator.Actors;

/// <summary>How a run ended, for the program's exit code.</summary>
public sealed record RunOutcome(int ExitCode, RunResult? Result, string? Error);

/// <summary>
/// Runs training, epoch by epoch: every step's units go out, their results are combined and applied, then the test
/// set is evaluated, the epoch recorded and checkpointed. States: WaitingForWorkers -> Training -> Finished.
/// Who computes what is decided by <see cref="StepScheduler"/>, who is in the run by its child
/// <see cref="MembershipActor"/>, the maths by <see cref="TrainingRun"/>; this actor sends and keeps time.
/// </summary>
public sealed class CoordinatorActor : ReceiveActor, IWithTimers
{
    private readonly LaunchSettings _launch;
    private readonly string _runId;
    private readonly TrainingRun _run;
    private readonly IActorRef _reporter;
    private readonly TaskCompletionSource<RunOutcome> _outcome;
    private readonly CheckpointStore? _checkpoints;
    private readonly StepScheduler _scheduler;
    private readonly DataPort? _dataPort;
    private readonly List<EpochMetrics> _history = new();
    private readonly Stopwatch _runClock = new();
    private readonly double _runSecondsBefore;
    private Stopwatch _epochClock = new();
    private double _epochSecondsBefore, _epochTrainSeconds;
    private long _lastCheckpointVersion;
    private DateTime _lastWaitingNotice = DateTime.MinValue;
    private int _joins;
    private bool _held;
    private IActorRef _membership = ActorRefs.Nobody;

    public CoordinatorActor(LaunchSettings launch, string runId, TrainingRun run, IActorRef reporter, TaskCompletionSource<RunOutcome> outcome,
        CheckpointStore? checkpoints, Checkpoint? resumedFrom, DataPort? dataPort)
    {
        (_launch, _runId, _run, _reporter, _outcome, _checkpoints, _dataPort) = (launch, runId, run, reporter, outcome, checkpoints, dataPort);
        _scheduler = new StepScheduler(run, launch);
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

    public static Props Props(LaunchSettings launch, string runId, TrainingRun run, IActorRef reporter, TaskCompletionSource<RunOutcome> outcome,
        CheckpointStore? checkpoints = null, Checkpoint? resumedFrom = null, DataPort? dataPort = null) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(launch, runId, run, reporter, outcome, checkpoints, resumedFrom, dataPort));

    protected override void PreStart()
    {
        _membership = Context.ActorOf(MembershipActor.Props(_launch, _run.Job(_runId), _run.Layout.Fingerprint, _reporter, _dataPort), "membership");
        _dataPort?.DeliverTo(Self);
        Timers.StartPeriodicTimer("tick", Tick.Instance, _launch.Tick);
        // A resumed run whose last checkpoint is its end has nothing left to train.
        if (_run.Finished && _history.Count > 0) Finish(_history[^1]);
    }

    protected override void PostStop() => _outcome.TrySetResult(new RunOutcome(ExitCodes.Failed, null, "coordinator stopped before the run ended"));

    // ---------------------------------------------------------------- states

    private void WaitingForWorkers()
    {
        Membership(onJoined: () =>
        {
            if (_scheduler.Workers.Count < _launch.Workers) return;
            Become(Training);
            _runClock.Start();
            StartEpoch();
        });
        Receive<Tick>(_ => NoticeWaiting());
    }

    private void Training()
    {
        Membership(onJoined: () =>
        {
            if (_held) NextStep();
        });
        Receive<IUnitReply>(r => Apply(_scheduler.Reply(_scheduler.WorkerAt(Sender), r, DateTime.UtcNow)));
        Receive<Tick>(_ =>
        {
            if (_scheduler.Workers.Count == 0) NoticeWaiting();
            Apply(_scheduler.Tick(DateTime.UtcNow));
        });
    }

    private void Finished()
    {
        Receive<JoinRequest>(r => Sender.Tell(new JoinRefused(r.WorkerId, "the run has finished")));
        ReceiveAny(_ => { });
    }

    /// <summary>Joins go to the membership child; what it decides comes back as accepted or lost workers.</summary>
    private void Membership(Action onJoined)
    {
        Receive<JoinRequest>(r => _membership.Forward(r));
        Receive<JoinProof>(p => _membership.Forward(p));
        Receive<WorkerAccepted>(a =>
        {
            _joins++;
            Apply(_scheduler.Add(a.Worker, DateTime.UtcNow));
            onJoined();
        });
        Receive<WorkerLost>(l =>
        {
            Apply(_scheduler.Remove(l.WorkerId, l.Reason, DateTime.UtcNow));
            if (_scheduler.Workers.Count == 0) NoticeWaiting(force: true);
        });
        Receive<Abort>(a => Fail(a.Reason, a.ExitCode));
    }

    // ---------------------------------------------------------------- the loop of an epoch

    private void StartEpoch()
    {
        _epochClock = Stopwatch.StartNew();
        _scheduler.BeginEpoch();
        NextStep();
    }

    /// <summary>The next step of the epoch, or its evaluation once every step is applied.</summary>
    private void NextStep()
    {
        if (_run.EpochTrained)
        {
            _epochTrainSeconds = _epochClock.Elapsed.TotalSeconds + _epochSecondsBefore;
            Apply(_scheduler.StartEvaluation(DateTime.UtcNow));
            return;
        }
        if (_launch.CheckpointEverySteps > 0 && _run.Version - _lastCheckpointVersion >= _launch.CheckpointEverySteps && !SaveCheckpoint()) return;
        if (_launch.HoldUntilJoins is { } gate && gate.Holds(_run.Epoch, _run.Step, _joins))
        {
            if (!_held) _reporter.Tell(new Notice($"holding before epoch {_run.Epoch} step {_run.Step} until {gate.Joins} joins ({_joins} so far)"));
            _held = true;
            return;
        }
        _held = false;
        Apply(_scheduler.StartTraining(DateTime.UtcNow));
    }

    /// <summary>Carries out what the scheduler decided, then moves the loop on if a phase completed.</summary>
    private void Apply(Effects effects)
    {
        // The step's tensors go through the worker's data channel when it has one open, else through Akka.Remote.
        foreach (var (to, message) in effects.Sends)
            if (_dataPort is null || !_dataPort.TrySend(to.Ref, message)) to.Ref.Tell(message, Self);
        foreach (var report in effects.Reports) _reporter.Tell(report);
        foreach (var worker in effects.Downed) _membership.Tell(new Down(worker));
        if (effects.Failure is { } failure) Fail(failure.Reason, failure.ExitCode);
        else if (effects.Trained is { } step)
        {
            _reporter.Tell(new StepCompleted(_run.Epoch, _run.Step - 1, _run.StepsPerEpoch, step.Loss, step.Examples, _run.EpochExamples,
                _epochClock.Elapsed.TotalSeconds, _scheduler.Workers.Count, _run.LastSchedule.LearningRate));
            NextStep();
        }
        else if (effects.Evaluated is { } test) CompleteEpoch(test);
    }

    private void CompleteEpoch(Shared.Training.EvaluationResult test)
    {
        var epoch = _run.Epoch;
        var lr = _run.LastSchedule.LearningRate;
        var training = _run.CompleteEpoch();
        var workers = _scheduler.Workers.OrderBy(w => w.Id, StringComparer.Ordinal).ToList();
        var metrics = new EpochMetrics(epoch, training.Loss, training.Accuracy, test.LossSum / test.Count, (double)test.Correct / test.Count,
            _epochClock.Elapsed.TotalSeconds, _epochTrainSeconds, training.Examples / _epochTrainSeconds, workers.Count, lr,
            workers.Select(w => w.Stats.Summary(w.Id)).ToList())
        {
            Utilization = workers.Sum(w => w.Stats.ComputeSeconds) / (_epochTrainSeconds * Math.Max(1, workers.Count)),
        };
        _history.Add(metrics);
        _epochSecondsBefore = 0;
        _reporter.Tell(new EpochCompleted(metrics));
        if (!SaveCheckpoint()) return;
        if (_run.Finished) Finish(metrics);
        else StartEpoch();
    }

    /// <summary>Writes a checkpoint at the current step boundary; false (and the run failed) if it cannot be written.</summary>
    private bool SaveCheckpoint()
    {
        if (_checkpoints is null) return true;
        try
        {
            var epochSeconds = _run.EpochTrained ? 0 : _epochClock.Elapsed.TotalSeconds + _epochSecondsBefore;
            _checkpoints.Save(_run.Snapshot(_runId, epochSeconds, RunSeconds, _history));
            _lastCheckpointVersion = _run.Version;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail(Shared.IO.FileIoException.Describe(e), ExitCodes.Failed);
            return false;
        }
    }

    private double RunSeconds => _runSecondsBefore + _runClock.Elapsed.TotalSeconds;

    // ---------------------------------------------------------------- the end

    private void Finish(EpochMetrics last)
    {
        var result = new RunResult(_runId, last.Epoch, last.TestAccuracy, last.TestLoss, last.TrainAccuracy, _run.Sha256(),
            RunSeconds, _scheduler.StaleReplies, _scheduler.DuplicateReplies, _history.ToList());
        End(new RunCompleted(result), new RunOutcome(ExitCodes.Ok, result, null), "training complete");
    }

    private void Fail(string reason, int exitCode) => End(new RunFailed(reason, exitCode), new RunOutcome(exitCode, null, reason), reason);

    private void End(object report, RunOutcome outcome, string reason)
    {
        _scheduler.Stop();
        foreach (var w in _scheduler.Workers) w.Ref.Tell(new RunFinished(_runId, reason));
        _reporter.Tell(report);
        _outcome.TrySetResult(outcome);
        Become(Finished);
    }

    private void NoticeWaiting(bool force = false)
    {
        var now = DateTime.UtcNow;
        if (!force && now - _lastWaitingNotice < _launch.WaitingNoticeEvery) return;
        _lastWaitingNotice = now;
        _reporter.Tell(new Notice($"waiting for workers: {_scheduler.Workers.Count}/{_launch.Workers}"));
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>Stop the run (Ctrl-C, or a fatal error outside the actor).</summary>
    public sealed record Abort(string Reason, int ExitCode);
}
