using Akka.Actor;
using Akka.TestKit.Xunit2;
using DataParallel.Coordinator.Actors;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Settings;
using DataParallel.Tests.Support;
using DataParallel.Tests.Unit;

namespace DataParallel.Tests.Actors;

/// <summary>The reporter routes the coordinator's events to lines, the run files and the plots; a test clock stands in for time.</summary>
public sealed class ReporterActorSpec : TestKit
{
    private readonly string _dir = Repository.NewTempDirectory("reporter");
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private readonly IActorRef _reporter;
    private TimeSpan _now;

    public ReporterActorSpec() : base("akka.loglevel = WARNING")
    {
        var console = new PlainConsole(_out, _error);
        _reporter = Sys.ActorOf(ReporterActor.Props(new RunFiles(_dir), console, logEvery: 2, epochs: 2, coordinator: TestActor, clock: () => _now));
    }

    private void At(double seconds, object message)
    {
        _now = TimeSpan.FromSeconds(seconds);
        _reporter.Tell(message);
        // One message at a time, so the clock is read while the message is handled.
        _reporter.Tell(ReporterActor.Flush.Instance, TestActor);
        ExpectMsg<ReporterActor.Flushed>(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void An_epoch_writes_metrics_throughput_and_plots_and_prints_its_line()
    {
        At(0.1, new WorkerJoined("w1", "in-process", 1, 1, 2));
        At(0.2, new WorkerJoined("w2", "in-process", 1, 2, 2));
        At(0.5, new UnitCompleted("w1", 1, 64));
        At(0.6, new UnitCompleted("w2", 1, 64));
        At(0.7, new StepCompleted(1, 0, 2, 2.3, 128, 128, 0.5, 2, 0.1));
        At(1.2, new UnitCompleted("w1", 1, 64));
        At(1.8, new WorkerLeft("w2", "stopped", 1, 2, 1));
        At(1.9, new StepCompleted(1, 1, 2, 2.1, 128, 256, 1.7, 1, 0.1));
        At(3.0, new EpochCompleted(MetricsFilesTests.Epoch(1)));

        Assert.Equal(
            [new(1, "w1", 64), new(1, "w2", 64), new(2, "w1", 64), new(2, "w2", 0), new(3, "w1", 0)],
            MetricsFiles.ReadThroughputCsv(Path.Combine(_dir, RunFiles.ThroughputCsv)));
        Assert.Single(MetricsFiles.ReadMetricsCsv(Path.Combine(_dir, RunFiles.MetricsCsv)));
        foreach (var png in new[] { RunPlots.LossFile, RunPlots.MetricsFile, RunPlots.WorkersFile })
            PngImage.Read(Path.Combine(_dir, png)).AssertIsChart(Plots.Width, Plots.Height);

        var lines = _out.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("worker w1 joined from in-process (1 thread) [1/2]", lines[0]);
        Assert.StartsWith("worker w2 left: stopped; 1 unit(s) reassigned [1/2]", lines[2]);
        Assert.StartsWith("  epoch 01 step 2/2 | loss: 2.1000", lines[3]); // --log-every 2
        Assert.StartsWith("Epoch: 01 | m_mnist_accuracy:", lines[4]);
        Assert.Equal(5, lines.Length);
        Assert.DoesNotContain('\u001b', _out.ToString());
    }

    [Fact]
    public void A_failed_run_keeps_the_throughput_measured_so_far()
    {
        At(0.1, new WorkerJoined("w1", "in-process", 1, 1, 1));
        At(0.5, new UnitCompleted("w1", 1, 32));
        At(2.5, new RunFailed("interrupted", 130));

        // The last, unfinished window counts up to the failure (0.5 s of nothing).
        Assert.Equal([new(1, "w1", 32), new(2, "w1", 0), new(2.5, "w1", 0)],
            MetricsFiles.ReadThroughputCsv(Path.Combine(_dir, RunFiles.ThroughputCsv)));
        Assert.True(File.Exists(Path.Combine(_dir, RunPlots.WorkersFile)));
        Assert.Equal("error: interrupted\n", _error.ToString());
    }

    [Fact]
    public void A_metrics_file_that_cannot_be_written_stops_the_run_and_nothing_more_is_written()
    {
        At(0.1, new WorkerJoined("w1", "in-process", 1, 1, 1));
        At(3.0, new EpochCompleted(MetricsFilesTests.Epoch(1)));
        var metricsBefore = File.ReadAllText(Path.Combine(_dir, RunFiles.MetricsCsv));
        // A directory where the file goes: the rename of the written temporary file over it fails (EISDIR).
        var jsonl = Path.Combine(_dir, RunFiles.MetricsJsonl);
        File.Delete(jsonl);
        Directory.CreateDirectory(jsonl);

        _reporter.Tell(new EpochCompleted(MetricsFilesTests.Epoch(2)), TestActor);
        var abort = ExpectMsg<CoordinatorActor.Abort>(TimeSpan.FromSeconds(10));
        Assert.Equal(($"{jsonl}: cannot write: Is a directory", ExitCodes.Failed), (abort.Reason, abort.ExitCode));
        // What the coordinator does with it: fail the run, which the reporter prints, once.
        _reporter.Tell(new RunFailed(abort.Reason, abort.ExitCode), TestActor);
        _reporter.Tell(ReporterActor.Flush.Instance, TestActor);
        Assert.Equal(abort.Reason, ExpectMsg<ReporterActor.Flushed>(TimeSpan.FromSeconds(10)).Failure);

        Assert.Equal($"error: {abort.Reason}\n", _error.ToString());
        // metrics.csv, written before metrics.jsonl failed, already holds epoch 2; throughput.csv and the plots are
        // not rewritten after the failure, and no temporary file is left behind.
        Assert.Equal(2, MetricsFiles.ReadMetricsCsv(Path.Combine(_dir, RunFiles.MetricsCsv)).Count);
        Assert.NotEqual(metricsBefore, File.ReadAllText(Path.Combine(_dir, RunFiles.MetricsCsv)));
        Assert.Equal(3, MetricsFiles.ReadThroughputCsv(Path.Combine(_dir, RunFiles.ThroughputCsv)).Count);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void A_plot_that_cannot_be_written_stops_the_run()
    {
        At(0.1, new WorkerJoined("w1", "in-process", 1, 1, 1));
        var loss = Path.Combine(_dir, RunPlots.LossFile);
        Directory.CreateDirectory(loss);

        // Drawn by the reporter's child, after the epoch's line: the failure comes back as an abort, as any other file's.
        _reporter.Tell(new EpochCompleted(MetricsFilesTests.Epoch(1)), TestActor);
        var abort = ExpectMsg<CoordinatorActor.Abort>(TimeSpan.FromSeconds(30));
        Assert.Equal(($"{loss}: cannot write: Is a directory", ExitCodes.Failed), (abort.Reason, abort.ExitCode));
        _reporter.Tell(ReporterActor.Flush.Instance, TestActor);
        Assert.Equal(abort.Reason, ExpectMsg<ReporterActor.Flushed>(TimeSpan.FromSeconds(10)).Failure);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void A_result_that_cannot_be_written_is_the_runs_error_and_no_result_is_printed()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "result.json"));
        var result = new RunResult("run", 1, 0.9, 0.3, 0.8, new string('a', 64), 12, 0, 0, [MetricsFilesTests.Epoch(1)]);
        _reporter.Tell(new RunCompleted(result), TestActor);
        _reporter.Tell(ReporterActor.Flush.Instance, TestActor);
        // The coordinator has finished: nothing to abort (no Abort before the reply), the failure goes to the exit code.
        var flushed = ExpectMsg<ReporterActor.Flushed>(TimeSpan.FromSeconds(10));
        Assert.Equal($"{Path.Combine(_dir, "result.json")}: cannot write: Is a directory", flushed.Failure);
        Assert.Equal($"error: {flushed.Failure}\n", _error.ToString());
        Assert.DoesNotContain("Final parameters", _out.ToString());
    }

    [Fact]
    public void Warnings_go_to_stderr_and_notices_to_stdout()
    {
        At(0, new Notice("waiting for workers: 0/2"));
        At(0, new Notice("straggler: w1", Warning: true));
        At(0, new WorkerRefusedNotice("w9", "akka.tcp://x@h:1", "wrong or missing join token"));
        Assert.Equal("waiting for workers: 0/2\n", _out.ToString());
        Assert.Equal("straggler: w1\nrefused worker w9 from akka.tcp://x@h:1: wrong or missing join token\n", _error.ToString());
    }
}
