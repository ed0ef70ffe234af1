using System.Globalization;
using System.Text;
using System.Text.Json;
using DataParallel.Shared.IO;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// The run directory's machine-readable files. Each is rewritten whole and atomically after every epoch,
/// so a process killed at any moment leaves files that parse.
/// </summary>
public sealed class RunFiles(string directory)
{
    public const string MetricsCsv = "metrics.csv";
    public const string MetricsJsonl = "metrics.jsonl";
    public const string ThroughputCsv = "throughput.csv";
    public const string MetricsCsvHeader = MetricsFiles.MetricsCsvHeader;
    public const string WorkersCsvHeader = "epoch,worker,units,mean_ms,p95_ms,mean_round_trip_ms,failures,straggled";

    private static readonly JsonSerializerOptions Json = TrainSettings.Json;
    private readonly List<EpochMetrics> _epochs = new();

    public string Directory { get; } = directory;

    public string PathOf(string name) => System.IO.Path.Combine(Directory, name);

    public void WriteConfig(object config) => AtomicFile.WriteAllText(PathOf("config.json"), JsonSerializer.Serialize(config, Json) + "\n");

    public void WriteSummary(string summary) => AtomicFile.WriteAllText(PathOf("summary.txt"), summary);

    /// <summary>Continues the history of a resumed run.</summary>
    public void Restore(IEnumerable<EpochMetrics> history) => _epochs.AddRange(history);

    public IReadOnlyList<EpochMetrics> Epochs => _epochs;

    public void AppendEpoch(EpochMetrics metrics)
    {
        _epochs.RemoveAll(e => e.Epoch >= metrics.Epoch);
        _epochs.Add(metrics);
        var c = CultureInfo.InvariantCulture;
        var workers = new StringBuilder(WorkersCsvHeader).Append('\n');
        foreach (var e in _epochs)
            foreach (var w in e.WorkerStats)
                workers.Append(string.Create(c, $"{e.Epoch},{w.WorkerId},{w.Units},{w.MeanMilliseconds:F2},{w.P95Milliseconds:F2},"
                    + $"{w.MeanRoundTripMilliseconds:F2},{w.Failures},{w.Straggled}\n"));
        var rows = _epochs.Select(MetricsRow.Of).ToList();
        AtomicFile.WriteAllText(PathOf(MetricsCsv), MetricsFiles.MetricsCsv(rows));
        AtomicFile.WriteAllText(PathOf(MetricsJsonl), MetricsFiles.MetricsJsonLines(rows));
        AtomicFile.WriteAllText(PathOf("workers.csv"), workers.ToString());
    }

    public void WriteThroughput(IEnumerable<ThroughputSample> samples) =>
        AtomicFile.WriteAllText(PathOf(ThroughputCsv), MetricsFiles.ThroughputCsv(samples));

    /// <summary>Loss.png, Metrics.png and Workers.png, each replaced whole.</summary>
    public void WritePlots(RunPlots plots)
    {
        AtomicFile.WriteAllBytes(PathOf(RunPlots.LossFile), plots.Loss);
        AtomicFile.WriteAllBytes(PathOf(RunPlots.MetricsFile), plots.Metrics);
        AtomicFile.WriteAllBytes(PathOf(RunPlots.WorkersFile), plots.Workers);
    }

    public void WriteResult(RunResult result)
    {
        var document = new
        {
            run_id = result.RunId,
            epochs = result.Epochs,
            test_accuracy = result.TestAccuracy,
            test_loss = result.TestLoss,
            train_accuracy = result.TrainAccuracy,
            sha256 = result.Sha256,
            seconds = result.Seconds,
            stale_replies = result.StaleReplies,
            duplicate_replies = result.DuplicateReplies,
        };
        AtomicFile.WriteAllText(PathOf("result.json"), JsonSerializer.Serialize(document, Json) + "\n");
    }
}
