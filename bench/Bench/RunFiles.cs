using System.Globalization;
using System.Text.Json;

namespace DataParallel.Bench;

/// <summary>The files a `train` run leaves in its directory, read by column name.</summary>
public sealed class RunFiles
{
    public sealed record Epoch(int Number, double Seconds, double ImagesPerSecond, double TestAccuracy);

    public sealed record WorkerEpoch(int Epoch, string Worker, int Units, double MeanMs, double P95Ms, double RoundTripMs);

    public required IReadOnlyList<Epoch> Epochs { get; init; }
    public required IReadOnlyList<WorkerEpoch> Workers { get; init; }
    public required string Sha256 { get; init; }

    public static RunFiles Read(string directory)
    {
        var epochs = Csv(Path.Combine(directory, "metrics.csv"))
            .Select(r => new Epoch((int)r["epoch"], r["seconds"], r["images_per_second"], r["test_accuracy"])).ToList();
        var workers = Csv(Path.Combine(directory, "workers.csv"), text: "worker")
            .Select(r => new WorkerEpoch((int)r["epoch"], r.Text, (int)r["units"], r["mean_ms"], r["p95_ms"], r["mean_round_trip_ms"])).ToList();
        using var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "result.json")));
        return new RunFiles { Epochs = epochs, Workers = workers, Sha256 = result.RootElement.GetProperty("sha256").GetString() ?? "" };
    }

    /// <summary>Compute time per micro-batch in an epoch, weighted by each worker's units.</summary>
    public double? ComputeMs(int epoch) => Weighted(epoch, w => w.MeanMs);

    public double? RoundTripMs(int epoch) => Weighted(epoch, w => w.RoundTripMs);

    public double? P95OverMean(int epoch)
    {
        var rows = Workers.Where(w => w.Epoch == epoch && w.MeanMs > 0).ToList();
        return rows.Count == 0 ? null : rows.Average(w => w.P95Ms / w.MeanMs);
    }

    /// <summary>Per worker and step: the step's wall time minus what the worker computed in it, averaged over workers.</summary>
    public double? IdleMsPerStep(int epoch, double trainSeconds, int steps)
    {
        var rows = Workers.Where(w => w.Epoch == epoch).ToList();
        if (rows.Count == 0 || steps == 0) return null;
        var stepMs = trainSeconds * 1000 / steps;
        return rows.Average(w => stepMs - w.Units * w.MeanMs / steps);
    }

    private double? Weighted(int epoch, Func<WorkerEpoch, double> value)
    {
        var rows = Workers.Where(w => w.Epoch == epoch && w.Units > 0).ToList();
        var units = rows.Sum(w => w.Units);
        return units == 0 ? null : rows.Sum(w => value(w) * w.Units) / units;
    }

    private sealed record Row(Dictionary<string, double> Values, string Text)
    {
        public double this[string column] => Values[column];
    }

    private static IEnumerable<Row> Csv(string path, string? text = null)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var fields = line.Split(',');
            var values = new Dictionary<string, double>();
            var label = "";
            for (var i = 0; i < header.Length && i < fields.Length; i++)
            {
                if (header[i] == text) label = fields[i];
                else if (double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) values[header[i]] = v;
            }
            yield return new Row(values, label);
        }
    }
}
