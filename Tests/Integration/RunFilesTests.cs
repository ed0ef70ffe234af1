using System.Text.Json;
using DataParallel.Coordinator.Reporting;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>What a real run leaves in its directory and prints when its output is redirected (as here, and in CI).</summary>
[Collection(ProcessCollection.Name)]
public sealed class RunFilesTests
{
    [Fact]
    public void Two_epochs_leave_every_run_file_parseable_and_plain_output()
    {
        // 1,536 images: 12 steps of 128 per epoch, in micro-batches of 32.
        var run = TrainRuns.Train(
        [
            "--workers", "2", "--epochs", "2", "--limit-train", "1536", "--limit-test", "500", "--micro-batch", "32", "--threads-per-worker", "1",
            "--log-every", "5",
        ]);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        string File(string name) => Path.Combine(run.RunDirectory, name);

        // Redirected: plain lines, the step lines asked for, and not one escape code.
        Assert.DoesNotContain('\u001b', run.Stdout);
        Assert.DoesNotContain('\u001b', run.Stderr);
        Assert.Contains("  epoch 01 step 5/12 | loss: ", run.Stdout);
        Assert.Contains("  epoch 02 step 10/12 | loss: ", run.Stdout);
        Assert.Matches(@"(?m)^Epoch: 02 \| m_mnist_accuracy: \d+\.\d\d%", run.Stdout);

        var config = JsonDocument.Parse(System.IO.File.ReadAllText(File("config.json"))).RootElement;
        Assert.Equal(2, config.GetProperty("settings").GetProperty("epochs").GetInt32());
        Assert.Contains("Total params: 13,032", System.IO.File.ReadAllText(File("summary.txt")));
        Assert.Equal(run.Sha256, run.Result.GetProperty("sha256").GetString());

        var csv = MetricsFiles.ReadMetricsCsv(File(RunFiles.MetricsCsv));
        var jsonl = MetricsFiles.ReadMetricsJsonLines(File(RunFiles.MetricsJsonl));
        Assert.Equal([1, 2], csv.Select(r => r.Epoch));
        Assert.Equal(csv.Select(r => (r.Epoch, r.TrainLoss, r.TestAccuracy, r.Workers)),
            jsonl.Select(r => (r.Epoch, r.TrainLoss, r.TestAccuracy, r.Workers)));
        Assert.All(csv, r => Assert.True(r.Workers == 2 && r.ImagesPerSecond > 0 && r.TestAccuracy is > 0 and <= 1 && double.IsFinite(r.TrainLoss)));
        Assert.Equal(run.Result.GetProperty("test_accuracy").GetDouble(), csv[^1].TestAccuracy);

        var workers = System.IO.File.ReadAllLines(File("workers.csv"));
        Assert.Equal(RunFiles.WorkersCsvHeader, workers[0]);
        Assert.Equal(["1,local-1", "1,local-2", "2,local-1", "2,local-2"], workers.Skip(1).Select(l => string.Join(',', l.Split(',')[..2])));

        var throughput = MetricsFiles.ReadThroughputCsv(File(RunFiles.ThroughputCsv));
        Assert.Equal(["local-1", "local-2"], throughput.Select(s => s.Worker).Distinct().Order());
        Assert.All(new[] { "local-1", "local-2" }, w => Assert.Contains(throughput, s => s.Worker == w && s.ImagesPerSecond > 0));

        foreach (var png in new[] { RunPlots.LossFile, RunPlots.MetricsFile, RunPlots.WorkersFile })
            PngImage.Read(File(png)).AssertIsChart(Plots.Width, Plots.Height);
        Assert.Empty(Directory.GetFiles(run.RunDirectory, "*.tmp"));

        // The plots can be rendered again from the files alone.
        foreach (var png in new[] { RunPlots.LossFile, RunPlots.MetricsFile, RunPlots.WorkersFile }) System.IO.File.Delete(File(png));
        var (code, stdout, stderr) = ProgramProcess.Run("Coordinator", ["plot", run.RunDirectory], TimeSpan.FromMinutes(1));
        Assert.True(code == 0, stderr + stdout);
        foreach (var png in new[] { RunPlots.LossFile, RunPlots.MetricsFile, RunPlots.WorkersFile })
            PngImage.Read(File(png)).AssertIsChart(Plots.Width, Plots.Height);
    }

    [Fact]
    public void Plot_of_a_missing_directory_exits_1_with_one_line()
    {
        var missing = Path.Combine(Repository.NewTempDirectory("plot-missing"), "no-run");
        var (code, stdout, stderr) = ProgramProcess.Run("Coordinator", ["plot", missing], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Equal($"error: {missing}: no such run directory", stderr.Trim());
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("plot")]
    [InlineData("summary")]
    [InlineData("fetch-data")]
    public void Every_command_documents_its_options_defaults_and_exit_codes(string command)
    {
        var (code, stdout, _) = ProgramProcess.Run("Coordinator", [command, "--help"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, code);
        Assert.Contains("Exit codes: 0 ok, 1 invalid input, 2 failure", stdout);
        if (command == "train")
        {
            Assert.Matches(@"--epochs <epochs>\s+Epochs to train \[default: 15\]", stdout);
            Assert.Matches(@"--log-every <log-every>.*\[default: 0\]", stdout);
        }
        if (command == "fetch-data") Assert.Contains("[default: ", stdout);
    }
}
