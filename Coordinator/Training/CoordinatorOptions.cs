namespace DataParallel.Coordinator.Training;

/// <summary>How the coordinator runs the cluster side of a run (not what it computes: that is TrainSettings).</summary>
public sealed record CoordinatorOptions
{
    public required string RunId { get; init; }
    public int ExpectedWorkers { get; init; } = 2;
    /// <summary>Null: no join token required (loopback only).</summary>
    public string? Token { get; init; }
    /// <summary>A unit in flight longer than max(this, StragglerFactor x mean latency) is also given to an idle worker.</summary>
    public TimeSpan StragglerMinimum { get; init; } = TimeSpan.FromSeconds(2);
    public double StragglerFactor { get; init; } = 4;
    /// <summary>A worker that has held a unit this long without any reply is declared dead, whatever the cluster says.</summary>
    public TimeSpan WorkerTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan Tick { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>How long a member must stay unreachable before its work is reassigned and it is downed.</summary>
    public TimeSpan UnreachableGrace { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan WaitingNoticeEvery { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Also checkpoint every this many steps within an epoch (0: at epoch ends only).</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>Test-only: before this step, wait until this many joins were accepted in all (null: never hold).</summary>
    public JoinGate? HoldUntilJoins { get; init; }
}

/// <summary>
/// Holds a run before (Epoch, Step) until <paramref name="Joins"/> worker joins have been accepted since it started
/// (a worker that rejoins counts again). Tests use it to make an event happen during a run by construction, instead of
/// betting that a run lasts longer than a process takes to start.
/// </summary>
public sealed record JoinGate(int Joins, int Epoch, int Step)
{
    public static bool TryParse(string text, out JoinGate? gate)
    {
        gate = null;
        var at = text.Split('@');
        if (at.Length != 2) return false;
        var position = at[1].Split(':');
        if (position.Length != 2 || !int.TryParse(at[0], out var joins) || !int.TryParse(position[0], out var epoch) || !int.TryParse(position[1], out var step)
            || joins < 1 || epoch < 1 || step < 0) return false;
        gate = new JoinGate(joins, epoch, step);
        return true;
    }

    public bool Holds(int epoch, int step, int joins) => joins < Joins && (epoch, step).CompareTo((Epoch, Step)) >= 0;
}
