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
    public const string MetricsCsvHeader = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second,workers,lr";
    public const string WorkersCsvHeader = "epoch,worker,units,mean_ms,p95_ms,mean_round_trip_ms,failures,straggled";

    private static readonly JsonSerializerOptions Json = TrainSettings.Json;
    private static readonly JsonSerializerOptions JsonLine = new(TrainSettings.Json) { WriteIndented = false };
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
        var csv = new StringBuilder(MetricsCsvHeader).Append('\n');
        var jsonl = new StringBuilder();
        var workers = new StringBuilder(WorkersCsvHeader).Append('\n');
        foreach (var e in _epochs)
        {
            csv.Append(string.Create(c, $"{e.Epoch},{e.TrainLoss:R},{e.TrainAccuracy:R},{e.TestLoss:R},{e.TestAccuracy:R},{e.Seconds:F3},{e.ImagesPerSecond:F1},{e.Workers},{e.LearningRate:R}\n"));
            jsonl.Append(JsonSerializer.Serialize(new
            {
                epoch = e.Epoch, train_loss = e.TrainLoss, train_accuracy = e.TrainAccuracy, test_loss = e.TestLoss,
                test_accuracy = e.TestAccuracy, seconds = e.Seconds, images_per_second = e.ImagesPerSecond, workers = e.Workers, lr = e.LearningRate,
            }, JsonLine)).Append('\n');
            foreach (var w in e.WorkerStats)
                workers.Append(string.Create(c, $"{e.Epoch},{w.WorkerId},{w.Units},{w.MeanMilliseconds:F2},{w.P95Milliseconds:F2},{w.MeanRoundTripMilliseconds:F2},{w.Failures},{w.Straggled}\n"));
        }
        AtomicFile.WriteAllText(PathOf("metrics.csv"), csv.ToString());
        AtomicFile.WriteAllText(PathOf("metrics.jsonl"), jsonl.ToString());
        AtomicFile.WriteAllText(PathOf("workers.csv"), workers.ToString());
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
