using DataParallel.Coordinator.Reporting;

namespace DataParallel.Coordinator.Training;

/// <summary>What the scheduler does about time: silent workers given up, stragglers' units duplicated.</summary>
public sealed partial class StepScheduler
{
    /// <summary>
    /// Checked every tick: a worker holding work with no reply for WorkerTimeout is given up and downed; a unit late by
    /// <see cref="StragglerPolicy"/> goes to an idle worker as well, and the first result wins.
    /// </summary>
    public Effects Tick(DateTime now)
    {
        var effects = new Effects();
        var phase = Current;
        if (phase is null || _workers.Count == 0) return effects;

        // A worker holding work with no reply for WorkerTimeout is dead, whatever the failure detector thinks yet.
        foreach (var (_, workerId, age) in phase.Assignment.Overdue(now, policy.WorkerTimeout))
        {
            if (!_workers.TryGetValue(workerId, out var silent) || now - silent.LastReply <= policy.WorkerTimeout) continue;
            Remove(workerId, $"no reply for {age.TotalSeconds:F0} s", now, effects);
            effects.Downed.Add(silent);
        }

        var mean = _workers.Values.Select(w => w.Stats.Mean).Where(m => m > 0).DefaultIfEmpty(0).Average();
        var deadline = StragglerPolicy.Deadline(policy.StragglerMinimum, policy.StragglerFactor, mean, phase.Assignment.Units, _workers.Count);
        foreach (var (unit, workerId, age) in phase.Assignment.Overdue(now, deadline))
        {
            var idle = ByLoad(phase).FirstOrDefault(w => w.Id != workerId && phase.Assignment.InFlightWith(w.Id) == 0);
            if (idle is null) break;
            phase.Assignment.Duplicate(unit, idle.Id, now);
            if (_workers.TryGetValue(workerId, out var slow)) slow.Stats.Straggled++;
            effects.Reports.Add(new Notice(
                $"straggler: worker {workerId} has held unit {unit} of epoch {phase.Epoch} for {age.TotalSeconds:F1} s; also sent to {idle.Id}",
                Warning: true));
            Send(idle, [unit], effects);
        }
        return effects;
    }
}
