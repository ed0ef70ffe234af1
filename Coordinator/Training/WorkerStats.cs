using DataParallel.Coordinator.Reporting;

namespace DataParallel.Coordinator.Training;

/// <summary>One worker's units and their compute latencies during the current epoch.</summary>
public sealed class WorkerStats
{
    private readonly List<double> _milliseconds = new();

    public int Failures { get; set; }
    public int Straggled { get; set; }
    public int Units => _milliseconds.Count;
    public double Mean => _milliseconds.Count == 0 ? 0 : _milliseconds.Average();

    public void Record(double milliseconds) => _milliseconds.Add(milliseconds);

    public double Percentile(double p)
    {
        if (_milliseconds.Count == 0) return 0;
        var sorted = _milliseconds.Order().ToList();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }

    public WorkerEpochStats Summary(string workerId) => new(workerId, Units, Mean, Percentile(95), Failures, Straggled);
}
