using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Training;

/// <summary>
/// Who computes what: the registered workers, the current phase, dispatch and prefetch, which replies count, and
/// what to do about failures, stragglers and silent workers. Plain state with no actors and no clock of its own
/// (every decision takes `now`), so each rule is a [Fact]; <see cref="Actors.CoordinatorActor"/> only carries out
/// the <see cref="Effects"/> it returns.
/// </summary>
public sealed partial class StepScheduler(TrainingRun run, LaunchSettings policy)
{
    /// <summary>A unit whose computation throws this often fails the run: that is a bug, not bad luck.</summary>
    public const int MaxUnitFailures = 3;

    private readonly Dictionary<string, RegisteredWorker> _workers = new();

    public Phase? Current { get; private set; }
    public IReadOnlyCollection<RegisteredWorker> Workers => _workers.Values;
    public long StaleReplies { get; private set; }
    public long DuplicateReplies { get; private set; }

    public RegisteredWorker? WorkerAt(Akka.Actor.IActorRef actor) => _workers.Values.FirstOrDefault(w => w.Ref.Equals(actor));

    // ---------------------------------------------------------------- membership

    public Effects Add(RegisteredWorker worker, DateTime now)
    {
        var effects = new Effects();
        worker.LastReply = now;
        _workers[worker.Id] = worker;
        effects.Reports.Add(new WorkerJoined(worker.Id, worker.Address, worker.Threads, _workers.Count, policy.Workers));
        DispatchAll(effects, now);
        return effects;
    }

    /// <summary>A worker is gone: its units that nobody else computes go to the others.</summary>
    public Effects Remove(string workerId, string reason, DateTime now)
    {
        var effects = new Effects();
        Remove(workerId, reason, now, effects);
        return effects;
    }

    public void BeginEpoch()
    {
        foreach (var w in _workers.Values) w.Stats = new WorkerStats();
    }

    // ---------------------------------------------------------------- phases

    /// <summary>The next training phase at the run's cursor: a step (--sync grads) or a round of replicas (--sync params).</summary>
    public Effects StartTraining(DateTime now)
    {
        var effects = new Effects();
        if (run.Settings.Sync == SyncMode.Grads)
        {
            var step = new StepPhase(run.Epoch, run.Step, run.Version, run.MicroBatches().Count);
            Current = step;
            DispatchAll(effects, now);
            foreach (var (worker, batches) in step.Prefetch(_workers.Values, run)) effects.Sends.Add((worker, batches));
        }
        else
        {
            Current = new RoundPhase(run.Epoch, run.Version, run.Replicas);
            DispatchAll(effects, now);
        }
        return effects;
    }

    public Effects StartEvaluation(DateTime now)
    {
        var effects = new Effects();
        Current = new EvalPhase(run.Epoch, run.Version, run.EvalChunks);
        DispatchAll(effects, now);
        return effects;
    }

    /// <summary>The run is over: nothing more is handed out or accepted.</summary>
    public void Stop() => Current = null;

    // ---------------------------------------------------------------- replies

    /// <summary>
    /// A worker's reply. The one place that decides whether it counts: it must come from a registered worker (the
    /// sender, not what the message claims, resolved by <see cref="WorkerAt"/>), name a unit of the current phase, and that unit must be held by that
    /// worker. A result for a unit already done is a duplicate (a straggler's copy); anything else is stale.
    /// </summary>
    public Effects Reply(RegisteredWorker? worker, IUnitReply reply, DateTime now)
    {
        var effects = new Effects();
        if (worker is null)
        {
            StaleReplies++; // from an actor that is not a registered worker, whatever it claims
            return effects;
        }
        worker.LastReply = now;
        var phase = Current;
        if (phase is null || !phase.Owns(reply.Unit) || !_workers.ContainsKey(worker.Id))
        {
            StaleReplies++;
            DispatchTo(worker, effects, now);
            return effects;
        }
        switch (reply)
        {
            case InputsMissing:
                // The worker lost what we sent it (it restarted): give its units back and send them again, with parameters.
                var released = phase.Assignment.Release(worker.Id);
                worker.Reset();
                effects.Reports.Add(new Notice(
                    $"worker {worker.Id} was missing the parameters of version {phase.Version}; resending {released.Count} unit(s)", Warning: true));
                DispatchAll(effects, now);
                break;
            case UnitFailed failed:
                Failed(worker, phase, failed, effects, now);
                break;
            default:
                Result(worker, phase, reply, effects, now);
                break;
        }
        return effects;
    }

    private void Result(RegisteredWorker worker, Phase phase, IUnitReply reply, Effects effects, DateTime now)
    {
        var index = reply.Unit.Index;
        var sent = phase.Assignment.SentAt(index, worker.Id);
        if (phase.Assignment.IsDone(index)) DuplicateReplies++;
        else if (sent is null) StaleReplies++; // a unit this worker was never given
        if (sent is null || !phase.Assignment.Complete(index, worker.Id))
        {
            DispatchTo(worker, effects, now);
            return;
        }
        if (phase.Malformed(reply, run) is { } problem)
        {
            phase.Assignment.Reopen(index);
            effects.Reports.Add(new Notice(
                $"worker {worker.Id} sent a malformed result for {reply.Unit}: {problem}; it is dropped from the run", Warning: true));
            Remove(worker.Id, "malformed result", now, effects);
            effects.Downed.Add(worker);
            return;
        }
        // Training units only: a worker holds two evaluation chunks at once, so the second's round trip includes the
        // first's compute, and evaluation time is outside the epoch's training time that utilization divides by.
        if (reply.Unit.Kind != UnitKind.EvalChunk) worker.Stats.Record(Milliseconds(reply), now - sent.Value);
        if (!phase.Keep(reply))
        {
            RetryNonFinite(worker, phase, index, effects, now);
            return;
        }
        if (phase.TrainedImages(reply) is > 0 and var images) effects.Reports.Add(new UnitCompleted(worker.Id, phase.Epoch, images));
        if (phase.Assignment.AllDone) Complete(phase, effects);
        else DispatchTo(worker, effects, now);
    }

    private void Complete(Phase phase, Effects effects)
    {
        Current = null;
        try
        {
            switch (phase)
            {
                case StepPhase step:
                    var combined = step.Combiner.Combine();
                    run.ApplyStep(combined);
                    effects.Trained = (combined.Loss, combined.Count);
                    break;
                case RoundPhase round:
                    var results = round.Results;
                    run.ApplyRound(results);
                    var examples = results.Sum(r => r.Count);
                    effects.Trained = (results.Sum(r => r.LossSum) / Math.Max(1, examples), examples);
                    break;
                case EvalPhase evaluation:
                    effects.Evaluated = evaluation.Total();
                    break;
            }
        }
        catch (NonFiniteException e)
        {
            effects.Failure = new RunFailure(e.Message, ExitCodes.NonFinite);
        }
    }

    /// <summary>A non-finite result is computed once more by another worker; the second time, the run stops.</summary>
    private void RetryNonFinite(RegisteredWorker worker, Phase phase, int index, Effects effects, DateTime now)
    {
        var unit = new UnitId(phase.Epoch, phase.Version, phase.Kind, index);
        if (!phase.Retried.Add(index))
        {
            var what = unit.Kind switch { UnitKind.MicroBatch => "micro-batch", UnitKind.EvalChunk => "chunk", _ => "replica" };
            effects.Failure = new RunFailure($"{Position(phase)} {what} {index}: "
                + $"{(unit.Kind == UnitKind.MicroBatch ? "gradients" : "results")} are not finite, also when recomputed by another worker",
                ExitCodes.NonFinite);
            return;
        }
        effects.Reports.Add(new Notice($"worker {worker.Id} returned non-finite values for {unit}; recomputing it elsewhere", Warning: true));
        phase.Assignment.Reopen(index);
        var other = ByLoad(phase).FirstOrDefault(w => w.Id != worker.Id) ?? worker;
        Send(other, phase.Assignment.Assign(other.Id, 1, now), effects);
    }

    private static string Position(Phase phase) =>
        phase is StepPhase s ? $"epoch {s.Epoch} step {s.Step}" : $"epoch {phase.Epoch} version {phase.Version}";

    /// <summary>
    /// A worker's computation threw. Its units go to whoever is free (itself included: it has rebuilt its model).
    /// A unit that fails <see cref="MaxUnitFailures"/> times stops the run.
    /// </summary>
    private void Failed(RegisteredWorker worker, Phase phase, UnitFailed failed, Effects effects, DateTime now)
    {
        var index = failed.Unit.Index;
        worker.Stats.Failures++;
        var failures = phase.Failures[index] = phase.Failures.GetValueOrDefault(index) + 1;
        if (failures >= MaxUnitFailures)
        {
            effects.Failure = new RunFailure(
                $"unit {index} of epoch {phase.Epoch} failed {failures} times (last on worker {worker.Id}: {failed.Error})", ExitCodes.Failed);
            return;
        }
        var released = phase.Assignment.Release(worker.Id);
        worker.Reset();
        effects.Reports.Add(new Notice(
            $"worker {worker.Id} failed on unit {index} of epoch {phase.Epoch}: {failed.Error}; {released.Count} unit(s) handed out again",
            Warning: true));
        DispatchAll(effects, now);
    }

    private static double Milliseconds(IUnitReply reply) => reply switch
    {
        GradientsComputed g => g.Milliseconds,
        ChunkEvaluated c => c.Milliseconds,
        ReplicaTrained r => r.Milliseconds,
        _ => 0,
    };

    // ---------------------------------------------------------------- dispatch

    private void Remove(string workerId, string reason, DateTime now, Effects effects)
    {
        if (!_workers.Remove(workerId, out var worker)) return;
        var released = Current?.Assignment.Release(workerId) ?? [];
        worker.Stats.Failures += released.Count;
        effects.Reports.Add(new WorkerLeft(workerId, reason, _workers.Count, policy.Workers, released.Count));
        DispatchAll(effects, now);
    }

    /// <summary>Least-loaded first, then by id, so who gets what never depends on dictionary order.</summary>
    private IEnumerable<RegisteredWorker> ByLoad(Phase phase) =>
        _workers.Values.OrderBy(w => phase.Assignment.InFlightWith(w.Id)).ThenBy(w => w.Id, StringComparer.Ordinal);

    private void DispatchAll(Effects effects, DateTime now)
    {
        if (Current is not { } phase) return;
        foreach (var worker in ByLoad(phase).ToList()) DispatchTo(worker, effects, now);
    }

    private void DispatchTo(RegisteredWorker worker, Effects effects, DateTime now)
    {
        if (Current is not { } phase || !_workers.ContainsKey(worker.Id)) return;
        var room = phase.Window(_workers.Count) - phase.Assignment.InFlightWith(worker.Id);
        if (room <= 0 || phase.Assignment.PendingCount == 0) return;
        Send(worker, phase.Assignment.Assign(worker.Id, room, now, Prefetched(phase, worker)), effects);
    }

    private static Func<int, bool>? Prefetched(Phase phase, RegisteredWorker worker) =>
        phase is StepPhase step ? u => worker.Prefetched.Contains((step.Epoch, step.Step, u)) : null;

    private void Send(RegisteredWorker worker, IReadOnlyList<int> units, Effects effects)
    {
        if (units.Count == 0 || Current is not { } phase) return;
        foreach (var message in phase.Send(worker, units, run)) effects.Sends.Add((worker, message));
    }
}
