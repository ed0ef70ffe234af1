using DataParallel.Coordinator.Reporting;

namespace DataParallel.Coordinator.Training;

/// <summary>One worker's training units (micro-batches, replica rounds) and their latencies during the current epoch.</summary>
public sealed class WorkerStats
{
    private readonly List<double> _milliseconds = new();
    private double _roundTripSum;
    private int _roundTrips;

    public int Failures { get; set; }
    public int Straggled { get; set; }
    public int Units => _milliseconds.Count;
    public double Mean => _milliseconds.Count == 0 ? 0 : _milliseconds.Average();

    /// <summary>Mean time from sending a unit to receiving its result, compute included.</summary>
    public double MeanRoundTrip => _roundTrips == 0 ? 0 : _roundTripSum / _roundTrips;
    public double ComputeSeconds => _milliseconds.Sum() / 1000;

    /// <param name="milliseconds">Compute time the worker measured.</param>
    /// <param name="roundTrip">Send-to-result time the coordinator measured, when known.</param>
    public void Record(double milliseconds, TimeSpan? roundTrip)
    {
        _milliseconds.Add(milliseconds);
        if (roundTrip is { } rtt)
        {
            _roundTripSum += rtt.TotalMilliseconds;
            _roundTrips++;
        }
    }

    public double Percentile(double p)
    {
        if (_milliseconds.Count == 0) return 0;
        var sorted = _milliseconds.Order().ToList();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }

    public WorkerEpochStats Summary(string workerId) => new(workerId, Units, Mean, Percentile(95), MeanRoundTrip, Failures, Straggled);
}
