namespace DataParallel.Bench;

/// <summary>What one run of one configuration measured. Values a trainer cannot report stay null, never invented.</summary>
public sealed record Measurement
{
    public required string Key { get; init; }
    public required int Round { get; init; }
    /// <summary>Why the run produced no numbers (null when it did).</summary>
    public string? Error { get; init; }
    /// <summary>Training images per second in the measured (last) epoch, evaluation excluded.</summary>
    public double ImagesPerSecond { get; init; }
    public double TrainSeconds { get; init; }
    /// <summary>Evaluation of the test set at the measured epoch's end.</summary>
    public double? EvalSeconds { get; init; }
    public int TestImages { get; init; }
    public double TestAccuracy { get; init; }
    public string? Sha256 { get; init; }
    /// <summary>CPU time of every process of the run per optimizer step (all threads): what other work on the machine disturbs least.</summary>
    public double? CpuMsPerStep { get; init; }

    // Ours only (from workers.csv and /proc of the coordinator and its worker processes).
    public double? ComputeMsFirstEpoch { get; init; }
    public double? ComputeMsLastEpoch { get; init; }
    public double? P95OverMean { get; init; }
    /// <summary>Mean round trip minus mean compute per micro-batch: both one-way trips plus queueing.</summary>
    public double? UnitOverheadMs { get; init; }
    /// <summary>Per step and worker: the step's wall time minus the worker's compute in it.</summary>
    public double? WorkerIdleMsPerStep { get; init; }
    /// <summary>Distributed runs: TCP payload bytes the coordinator sent plus received per step (from ss).</summary>
    public double? BytesPerStep { get; init; }
    public double? CoordinatorCpuMsPerStep { get; init; }
    public double? WorkerCpuMsPerStep { get; init; }
    public double? WorkerRssMbFirst { get; init; }
    public double? WorkerRssMbMax { get; init; }
    public double? WorkerRssMbLast { get; init; }
    /// <summary>Seconds between the first and last sample of the measured epoch (the window of the per-step values).</summary>
    public double SampledSeconds { get; init; }

    public static Measurement Failed(string key, int round, string error) => new() { Key = key, Round = round, Error = error };
}

public static class Statistics
{
    public static double? Median(IEnumerable<double?> values)
    {
        var sorted = values.Where(v => v is { } x && double.IsFinite(x)).Select(v => v!.Value).Order().ToArray();
        if (sorted.Length == 0) return null;
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    public static double? Median(IEnumerable<double> values) => Median(values.Select(v => (double?)v));
}
