using System.Diagnostics;
using Akka.Actor;
using DataParallel.Coordinator.Reporting;

namespace DataParallel.Coordinator.Actors;

/// <summary>
/// Turns the coordinator's events into console lines, the progress bar and run files (metrics, throughput, plots, TensorBoard events).
/// The only writer of either, so the coordinator never blocks on a terminal or a disk; it only routes, the work is
/// in <see cref="RunConsole"/>, <see cref="RunFiles"/>, <see cref="ThroughputLog"/> and <see cref="RunPlots"/>.
/// </summary>
public sealed class ReporterActor : ReceiveActor
{
    /// <summary>Throughput is counted per second: fine enough to show a worker stall, coarse enough to average over units.</summary>
    public static readonly TimeSpan ThroughputWindow = TimeSpan.FromSeconds(1);

    private readonly RunFiles _files;
    private readonly RunConsole _console;
    private readonly int _logEvery;
    private readonly Func<TimeSpan> _clock;
    private readonly ThroughputLog _throughput = new(ThroughputWindow);
    private readonly TensorBoardLog _events;
    private EpochProgress _progress;

    /// <param name="epochs">Epochs the run trains, for the bar's "epoch 02/15".</param>
    /// <param name="clock">Time since the run started; a stopwatch started with the actor unless a test gives one.</param>
    public ReporterActor(RunFiles files, RunConsole console, int logEvery, int epochs, Func<TimeSpan>? clock = null)
    {
        _files = files;
        _console = console;
        _logEvery = logEvery;
        var started = Stopwatch.StartNew();
        _clock = clock ?? (() => started.Elapsed);
        _progress = EpochProgress.Start(epochs);
        _events = new TensorBoardLog(files.Directory, ErrorLine);

        Receive<WorkerJoined>(j =>
        {
            _throughput.Joined(j.WorkerId, _clock());
            Line($"worker {j.WorkerId} joined from {j.Address} ({j.Threads} thread{(j.Threads == 1 ? "" : "s")}) [{j.Alive}/{j.Expected}]");
            Workers(j.Alive, j.Expected);
        });
        Receive<WorkerLeft>(l =>
        {
            _throughput.Left(l.WorkerId, _clock());
            Line($"worker {l.WorkerId} left: {l.Reason}; {l.Reassigned} unit(s) reassigned [{l.Alive}/{l.Expected}]");
            Workers(l.Alive, l.Expected);
        });
        Receive<WorkerRefusedNotice>(r => ErrorLine($"refused worker {r.WorkerId} from {r.Address}: {r.Reason}"));
        Receive<Notice>(n =>
        {
            if (n.Warning) ErrorLine(n.Text);
            else Line(n.Text);
        });
        Receive<UnitCompleted>(u => _throughput.Completed(u.WorkerId, _clock(), u.Images));
        Receive<StepCompleted>(s =>
        {
            _events.Step(s);
            _progress = _progress.After(s);
            _console.Show(_progress);
            if (_logEvery > 0 && (s.Step + 1) % _logEvery == 0) Line(ConsoleLines.Step(s));
        });
        Receive<EpochCompleted>(e =>
        {
            _files.AppendEpoch(e.Metrics);
            _events.Epoch(e.Metrics);
            _console.Show(null);
            Line(ConsoleLines.Epoch(e.Metrics));
            WriteThroughputAndPlots();
        });
        Receive<RunCompleted>(c =>
        {
            _files.WriteResult(c.Result);
            WriteThroughputAndPlots();
            _console.EndProgress();
            Line(ConsoleLines.Testing(c.Result));
        });
        Receive<RunFailed>(f =>
        {
            // What was measured up to the failure is worth keeping: Workers.png shows a crash best.
            WriteThroughputAndPlots();
            _console.EndProgress();
            ErrorLine($"error: {f.Error}");
        });
        Receive<Flush>(_ =>
        {
            _console.Flush();
            Sender.Tell(Flushed.Instance);
        });
    }

    public static Props Props(RunFiles files, RunConsole console, int logEvery, int epochs, Func<TimeSpan>? clock = null) =>
        Akka.Actor.Props.Create(() => new ReporterActor(files, console, logEvery, epochs, clock));

    protected override void PostStop() => _events.Dispose();

    private void Workers(int alive, int expected)
    {
        _progress = _progress.WithWorkers(alive, expected);
        if (_progress.Started) _console.Show(_progress);
    }

    private void WriteThroughputAndPlots()
    {
        try
        {
            var samples = _throughput.Samples(_clock());
            _files.WriteThroughput(samples);
            _files.WritePlots(RunPlots.Render(_files.Epochs.Select(MetricsRow.Of).ToList(), samples));
        }
        catch (Exception e)
        {
            // Training goes on without pictures; this actor must not restart either, or the throughput history is lost.
            ErrorLine($"warning: could not write throughput.csv or the plots in {_files.Directory}: {e.GetType().Name}: {e.Message}");
        }
    }

    private void Line(string text)
    {
        _console.Out.WriteLine(text);
        _console.Out.Flush();
    }

    private void ErrorLine(string text)
    {
        _console.Error.WriteLine(text);
        _console.Error.Flush();
    }

    public sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    public sealed class Flushed
    {
        public static readonly Flushed Instance = new();
    }
}
