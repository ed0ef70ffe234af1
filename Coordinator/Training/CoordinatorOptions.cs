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
}
