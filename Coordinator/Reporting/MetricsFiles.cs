using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using DataParallel.Shared.Data;

namespace DataParallel.Coordinator.Reporting;

/// <summary>One line of metrics.csv and metrics.jsonl: what the plots of a finished or running run are drawn from.</summary>
public sealed record MetricsRow(
    int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double Seconds, double ImagesPerSecond, int Workers, double LearningRate)
{
    public static MetricsRow Of(EpochMetrics m) =>
        new(m.Epoch, m.TrainLoss, m.TrainAccuracy, m.TestLoss, m.TestAccuracy, m.Seconds, m.ImagesPerSecond, m.Workers, m.LearningRate);
}

/// <summary>One line of throughput.csv: the training images a worker finished per second in the window ending at <see cref="Seconds"/>.</summary>
public sealed record ThroughputSample(double Seconds, string Worker, double ImagesPerSecond);

/// <summary>
/// The text of metrics.csv, metrics.jsonl and throughput.csv, and reading them back for `plot RUN_DIR`.
/// Readers go by column name, so a column added later does not break them, and name the file and line
/// of the first problem in a <see cref="DataFileException"/>.
/// </summary>
public static class MetricsFiles
{
    public const string MetricsCsvHeader = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second,workers,lr";
    public const string ThroughputCsvHeader = "seconds,worker,images_per_second";

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    // A diverging evaluation can report an infinite loss; JSON has no literal for it, so it is written as "Infinity".
    private static readonly JsonSerializerOptions JsonLine = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string MetricsCsv(IEnumerable<MetricsRow> rows)
    {
        var csv = new StringBuilder(MetricsCsvHeader).Append('\n');
        foreach (var r in rows)
            csv.Append(string.Create(C, $"{r.Epoch},{r.TrainLoss:R},{r.TrainAccuracy:R},{r.TestLoss:R},{r.TestAccuracy:R},"
                + $"{r.Seconds:F3},{r.ImagesPerSecond:F1},{r.Workers},{r.LearningRate:R}\n"));
        return csv.ToString();
    }

    public static string MetricsJsonLines(IEnumerable<MetricsRow> rows)
    {
        var jsonl = new StringBuilder();
        foreach (var r in rows)
            jsonl.Append(JsonSerializer.Serialize(new
            {
                epoch = r.Epoch, train_loss = r.TrainLoss, train_accuracy = r.TrainAccuracy, test_loss = r.TestLoss,
                test_accuracy = r.TestAccuracy, seconds = r.Seconds, images_per_second = r.ImagesPerSecond, workers = r.Workers, lr = r.LearningRate,
            }, JsonLine)).Append('\n');
        return jsonl.ToString();
    }

    public static string ThroughputCsv(IEnumerable<ThroughputSample> samples)
    {
        var csv = new StringBuilder(ThroughputCsvHeader).Append('\n');
        foreach (var s in samples)
            csv.Append(string.Create(C, $"{s.Seconds:0.###},{s.Worker},{s.ImagesPerSecond:F1}\n"));
        return csv.ToString();
    }

    public static IReadOnlyList<MetricsRow> ReadMetricsCsv(string path)
    {
        var table = CsvTable.Read(path,
            "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds", "images_per_second", "workers", "lr");
        return table.Rows.Select(row => new MetricsRow(
            row.Int("epoch"), row.Double("train_loss"), row.Double("train_accuracy"), row.Double("test_loss"), row.Double("test_accuracy"),
            row.Double("seconds"), row.Double("images_per_second"), row.Int("workers"), row.Double("lr"))).ToList();
    }

    public static IReadOnlyList<MetricsRow> ReadMetricsJsonLines(string path)
    {
        var rows = new List<MetricsRow>();
        var number = 0;
        foreach (var line in ReadLines(path))
        {
            number++;
            if (line.Length == 0) continue;
            JsonElement o;
            try { o = JsonDocument.Parse(line).RootElement; }
            catch (JsonException e) { throw new DataFileException(path, $"line {number}: not JSON ({e.Message})"); }
            if (o.ValueKind != JsonValueKind.Object) throw new DataFileException(path, $"line {number}: not a JSON object");
            rows.Add(new MetricsRow(
                (int)Number(o, "epoch"), Number(o, "train_loss"), Number(o, "train_accuracy"), Number(o, "test_loss"), Number(o, "test_accuracy"),
                Number(o, "seconds"), Number(o, "images_per_second"), (int)Number(o, "workers"), Number(o, "lr")));
        }
        return rows;

        double Number(JsonElement o, string name)
        {
            if (!o.TryGetProperty(name, out var value)) throw new DataFileException(path, $"line {number}: no \"{name}\"");
            if (value.ValueKind == JsonValueKind.Number) return value.GetDouble();
            if (value.ValueKind == JsonValueKind.String && double.TryParse(value.GetString(), NumberStyles.Float, C, out var named)) return named;
            throw new DataFileException(path, $"line {number}: \"{name}\" is not a number: {value.GetRawText()}");
        }
    }

    public static IReadOnlyList<ThroughputSample> ReadThroughputCsv(string path)
    {
        var table = CsvTable.Read(path, "seconds", "worker", "images_per_second");
        return table.Rows.Select(row => new ThroughputSample(row.Double("seconds"), row.Text("worker"), row.Double("images_per_second"))).ToList();
    }

    private static string[] ReadLines(string path)
    {
        try { return File.ReadAllLines(path); }
        catch (FileNotFoundException) { throw new DataFileException(path, "missing"); }
        catch (DirectoryNotFoundException) { throw new DataFileException(path, "missing"); }
        catch (IOException e) { throw new DataFileException(path, $"cannot be read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new DataFileException(path, $"cannot be read: {e.Message}"); }
    }

    /// <summary>A CSV file with a header line and no quoting (none of our fields holds a comma).</summary>
    private sealed class CsvTable
    {
        private CsvTable(string path, Dictionary<string, int> columns, List<(int Line, string[] Fields)> rows)
        {
            Path = path;
            Columns = columns;
            Rows = rows.Select(r => new Row(this, r.Line, r.Fields)).ToList();
        }

        public string Path { get; }
        public Dictionary<string, int> Columns { get; }
        public IReadOnlyList<Row> Rows { get; }

        public static CsvTable Read(string path, params string[] required)
        {
            var lines = ReadLines(path);
            if (lines.Length == 0 || lines[0].Length == 0) throw new DataFileException(path, "empty: no header line");
            var header = lines[0].Split(',');
            var columns = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < header.Length; i++) columns.TryAdd(header[i].Trim(), i);
            foreach (var name in required)
                if (!columns.ContainsKey(name)) throw new DataFileException(path, $"line 1: no column \"{name}\" in the header");
            var rows = new List<(int, string[])>();
            for (var i = 1; i < lines.Length; i++)
            {
                if (lines[i].Length == 0) continue;
                var fields = lines[i].Split(',');
                if (fields.Length != header.Length)
                    throw new DataFileException(path, $"line {i + 1}: {fields.Length} fields, the header has {header.Length}");
                rows.Add((i + 1, fields));
            }
            return new CsvTable(path, columns, rows);
        }

        public sealed class Row(CsvTable table, int line, string[] fields)
        {
            public string Text(string column) => fields[table.Columns[column]].Trim();

            public double Double(string column) => double.TryParse(Text(column), NumberStyles.Float, C, out var value)
                ? value
                : throw new DataFileException(table.Path, $"line {line}: {column} is not a number: \"{Text(column)}\"");

            public int Int(string column) => int.TryParse(Text(column), NumberStyles.Integer, C, out var value)
                ? value
                : throw new DataFileException(table.Path, $"line {line}: {column} is not a whole number: \"{Text(column)}\"");
        }
    }
}
