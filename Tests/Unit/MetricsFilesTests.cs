using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Data;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class MetricsFilesTests
{
    internal static EpochMetrics Epoch(int epoch, double trainLoss = 0.5, double testLoss = 0.4) =>
        new(epoch, trainLoss, 0.9 + epoch / 100.0, testLoss, 0.92 + epoch / 100.0, 12.5 + epoch, 10.25, 4321.5, 2, 0.05 / epoch,
            [new WorkerEpochStats("w1", 10, 3.5, 7.25, 4.5, 0, 1), new WorkerEpochStats("w2", 9, 4.5, 8.25, 5.5, 1, 0)]);

    [Fact]
    public void Run_files_write_one_row_per_epoch_that_reads_back_the_same_from_csv_and_jsonl()
    {
        var dir = Repository.NewTempDirectory("metrics");
        var files = new RunFiles(dir);
        files.AppendEpoch(Epoch(1, 0.6931471805599453, 0.5));
        files.AppendEpoch(Epoch(2, 0.1, 0.123456789012345));

        var csv = MetricsFiles.ReadMetricsCsv(files.PathOf(RunFiles.MetricsCsv));
        var jsonl = MetricsFiles.ReadMetricsJsonLines(files.PathOf(RunFiles.MetricsJsonl));
        Assert.Equal(RunFiles.MetricsCsvHeader, File.ReadLines(files.PathOf(RunFiles.MetricsCsv)).First());
        Assert.Equal([1, 2], csv.Select(r => r.Epoch));
        Assert.Equal(jsonl, csv);
        Assert.Equal(MetricsRow.Of(Epoch(2, 0.1, 0.123456789012345)), csv[1]);

        var workers = File.ReadAllLines(files.PathOf("workers.csv"));
        Assert.Equal(RunFiles.WorkersCsvHeader, workers[0]);
        Assert.Equal("2,w2,9,4.50,8.25,5.50,1,0", workers[^1]);
        Assert.Equal(5, workers.Length);
    }

    [Fact]
    public void A_repeated_epoch_replaces_the_later_rows()
    {
        var files = new RunFiles(Repository.NewTempDirectory("metrics"));
        files.AppendEpoch(Epoch(1));
        files.AppendEpoch(Epoch(2));
        files.AppendEpoch(Epoch(2, trainLoss: 0.25));
        var rows = MetricsFiles.ReadMetricsCsv(files.PathOf(RunFiles.MetricsCsv));
        Assert.Equal([1, 2], rows.Select(r => r.Epoch));
        Assert.Equal(0.25, rows[1].TrainLoss);
    }

    [Fact]
    public void An_infinite_or_missing_loss_is_kept_in_both_formats()
    {
        var files = new RunFiles(Repository.NewTempDirectory("metrics"));
        files.AppendEpoch(Epoch(1, trainLoss: double.NaN, testLoss: double.PositiveInfinity));
        foreach (var rows in new[]
            {
                MetricsFiles.ReadMetricsCsv(files.PathOf(RunFiles.MetricsCsv)),
                MetricsFiles.ReadMetricsJsonLines(files.PathOf(RunFiles.MetricsJsonl)),
            })
        {
            Assert.True(double.IsNaN(rows[0].TrainLoss));
            Assert.Equal(double.PositiveInfinity, rows[0].TestLoss);
        }
    }

    [Fact]
    public void Throughput_samples_read_back_the_same()
    {
        var files = new RunFiles(Repository.NewTempDirectory("throughput"));
        ThroughputSample[] samples = [new(1, "local-1", 320), new(1, "local-2", 0), new(2.5, "local-1", 288.5)];
        files.WriteThroughput(samples);
        Assert.Equal(MetricsFiles.ThroughputCsvHeader, File.ReadLines(files.PathOf(RunFiles.ThroughputCsv)).First());
        Assert.Equal(samples, MetricsFiles.ReadThroughputCsv(files.PathOf(RunFiles.ThroughputCsv)));
    }

    [Fact]
    public void Files_are_replaced_whole_with_no_temporary_files_left_behind()
    {
        var dir = Repository.NewTempDirectory("atomic");
        var files = new RunFiles(dir);
        for (var e = 1; e <= 3; e++) files.AppendEpoch(Epoch(e));
        files.WriteThroughput([new(1, "w1", 10)]);
        Assert.Equal(["metrics.csv", "metrics.jsonl", "throughput.csv", "workers.csv"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
    }

    [Theory]
    [InlineData("", "empty: no header line")]
    [InlineData("epoch,train_loss\n1,0.5\n", "line 1: no column \"train_accuracy\" in the header")]
    [InlineData(RunFiles.MetricsCsvHeader + "\n1,0.5,0.9,0.4\n", "line 2: 4 fields, the header has 9")]
    [InlineData(RunFiles.MetricsCsvHeader + "\n1,0.5,0.9,0.4,0.92,13.5,4321.5,2,0.05\n2,abc,0.9,0.4,0.92,13.5,4321.5,2,0.05\n",
        "line 3: train_loss is not a number: \"abc\"")]
    [InlineData(RunFiles.MetricsCsvHeader + "\n1.5,0.5,0.9,0.4,0.92,13.5,4321.5,2,0.05\n", "line 2: epoch is not a whole number: \"1.5\"")]
    public void A_malformed_metrics_csv_is_named_with_the_line_and_the_problem(string content, string problem)
    {
        var path = Path.Combine(Repository.NewTempDirectory("bad"), "metrics.csv");
        File.WriteAllText(path, content);
        var e = Assert.Throws<DataFileException>(() => MetricsFiles.ReadMetricsCsv(path));
        Assert.Equal($"{path}: {problem}", e.Message);
    }

    [Theory]
    [InlineData("{\"epoch\":1,", "line 1: not JSON")]
    [InlineData("[1,2]", "line 1: not a JSON object")]
    [InlineData("{\"epoch\":1}", "line 1: no \"train_loss\"")]
    public void A_malformed_metrics_jsonl_is_named_with_the_line_and_the_problem(string content, string problem)
    {
        var path = Path.Combine(Repository.NewTempDirectory("bad"), "metrics.jsonl");
        File.WriteAllText(path, content + "\n");
        var e = Assert.Throws<DataFileException>(() => MetricsFiles.ReadMetricsJsonLines(path));
        Assert.StartsWith($"{path}: {problem}", e.Message);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var path = Path.Combine(Repository.NewTempDirectory("missing"), "throughput.csv");
        var e = Assert.Throws<DataFileException>(() => MetricsFiles.ReadThroughputCsv(path));
        Assert.Equal($"{path}: missing", e.Message);
    }
}
