using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Reporting;

// What the coordinator tells its reporter. Only the coordinator reports; workers never log results.

public sealed record WorkerJoined(string WorkerId, string Address, int Threads, int Alive, int Expected);

public sealed record WorkerLeft(string WorkerId, string Reason, int Alive, int Expected, int Reassigned);

public sealed record WorkerRefusedNotice(string WorkerId, string Address, string Reason);

/// <summary>A line worth showing that is not a metric: waiting for workers, a straggler, a duplicate dropped.</summary>
public sealed record Notice(string Text, bool Warning = false);

/// <summary>A worker's accepted training unit (a micro-batch or a replica round): what per-worker throughput is measured from.</summary>
public sealed record UnitCompleted(string WorkerId, int Epoch, int Images);

public sealed record StepCompleted(
    int Epoch, int Step, int StepsPerEpoch, double Loss, int Examples, int EpochExamples, double EpochSeconds, int Alive, double LearningRate);

/// <summary>One worker's share of an epoch.</summary>
public sealed record WorkerEpochStats(
    string WorkerId, int Units, double MeanMilliseconds, double P95Milliseconds, double MeanRoundTripMilliseconds, int Failures, int Straggled);

public sealed record EpochMetrics(
    int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double Seconds, double TrainSeconds, double ImagesPerSecond, int Workers, double LearningRate,
    IReadOnlyList<WorkerEpochStats> WorkerStats)
{
    /// <summary>Share of the workers' wall time spent computing during training (1: no distribution overhead).</summary>
    public double Utilization { get; init; }
}

public sealed record EpochCompleted(EpochMetrics Metrics);

public sealed record RunResult(
    string RunId, int Epochs, double TestAccuracy, double TestLoss, double TrainAccuracy, string Sha256,
    double Seconds, long StaleReplies, long DuplicateReplies, IReadOnlyList<EpochMetrics> History);

public sealed record RunCompleted(RunResult Result);

public sealed record RunFailed(string Error, int ExitCode);
