using System.Diagnostics;
using Akka.Actor;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.IO;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Actors;

/// <summary>
/// Turns the coordinator's events into console lines, the progress bar and run files (metrics, throughput, plots, TensorBoard events).
/// The only writer of either, so the coordinator never blocks on a terminal or a disk; it only routes, the work is
/// in <see cref="RunConsole"/>, <see cref="RunFiles"/> and <see cref="ThroughputLog"/>; the plots are drawn by its child
/// <see cref="PlotActor"/>, at the lowest CPU priority.
/// A file it cannot write (a full disk, a read-only mount) stops the run: it asks the coordinator to abort, writes
/// nothing more, and <see cref="Flushed"/> carries the failure to the program's exit code.
/// Going on, or restarting, would end the run with exit 0 and lines missing from its files.
/// </summary>
public sealed class ReporterActor : ReceiveActor
{
    /// <summary>Throughput is counted per second: fine enough to show a worker stall, coarse enough to average over units.</summary>
    public static readonly TimeSpan ThroughputWindow = TimeSpan.FromSeconds(1);

    private readonly RunFiles _files;
    private readonly RunConsole _console;
    private readonly int _logEvery;
    private readonly ICanTell _coordinator;
    private readonly Func<TimeSpan> _clock;
    private readonly ThroughputLog _throughput = new(ThroughputWindow);
    private readonly TensorBoardLog _events;
    private readonly IActorRef _plots;
    /// <summary>Who asked for a <see cref="Flush"/>, in order, until the plots drawn before it are written.</summary>
    private readonly Queue<IActorRef> _flushing = new();
    private EpochProgress _progress;
    /// <summary>The first file that could not be written, as "PATH: cannot write: REASON".</summary>
    private string? _failure;
    /// <summary>The coordinator has ended the run: nobody is left to abort, a failure is this actor's to print.</summary>
    private bool _over;

    /// <param name="epochs">Epochs the run trains, for the bar's "epoch 02/15".</param>
    /// <param name="coordinator">Whom to ask for <see cref="CoordinatorActor.Abort"/> when a file cannot be written: a
    /// selection, since the coordinator is started after its reporter.</param>
    /// <param name="clock">Time since the run started; a stopwatch started with the actor unless a test gives one.</param>
    public ReporterActor(RunFiles files, RunConsole console, int logEvery, int epochs, ICanTell coordinator, Func<TimeSpan>? clock = null)
    {
        _files = files;
        _console = console;
        _logEvery = logEvery;
        _coordinator = coordinator;
        var started = Stopwatch.StartNew();
        _clock = clock ?? (() => started.Elapsed);
        _progress = EpochProgress.Start(epochs);
        _events = new TensorBoardLog(files.Directory, Failed);
        _plots = Context.ActorOf(PlotActor.Props(files, Context.System), "plots");

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
            if (_failure is null) _events.Step(s);
            _progress = _progress.After(s);
            _console.Show(_progress);
            if (_logEvery > 0 && (s.Step + 1) % _logEvery == 0) Line(ConsoleLines.Step(s));
        });
        Receive<EpochCompleted>(e =>
        {
            Record(() => _files.AppendEpoch(e.Metrics));
            if (_failure is null) _events.Epoch(e.Metrics);
            _console.Show(null);
            Line(ConsoleLines.Epoch(e.Metrics));
            WriteThroughputAndPlots();
        });
        Receive<RunCompleted>(c =>
        {
            _over = true;
            Record(() => _files.WriteResult(c.Result));
            WriteThroughputAndPlots(final: true);
            _console.EndProgress();
            // A run whose files are incomplete has no result to announce, only the failure (which may predate the end).
            if (_failure is not null) ErrorLine($"error: {_failure}");
            else Line(ConsoleLines.Testing(c.Result));
        });
        Receive<RunFailed>(f =>
        {
            _over = true;
            // What was measured up to the failure is worth keeping: Workers.png shows a crash best.
            WriteThroughputAndPlots(final: true);
            _console.EndProgress();
            ErrorLine($"error: {f.Error}");
            // Most often the same cause (a full disk fails the checkpoint, then throughput.csv): one error, this as a warning.
            if (_failure is not null && _failure != f.Error) ErrorLine($"warning: {_failure}");
        });
        Receive<PlotActor.NotDrawn>(n =>
        {
            if (n.Warning)
            {
                ErrorLine($"warning: {n.Reason}");
                return;
            }
            var first = _failure is null;
            Failed(n.Reason);
            // The final plots are drawn after the run's last lines: nobody else is left to print it.
            if (_over && first) ErrorLine($"error: {n.Reason}");
        });
        // Answered once the plots asked for before it are written, so that the files are complete when the program exits.
        Receive<Flush>(_ =>
        {
            _flushing.Enqueue(Sender);
            _plots.Tell(PlotActor.Flush.Instance);
        });
        Receive<PlotActor.Flushed>(_ =>
        {
            try { _console.Flush(); }
            catch (Exception e) when (FileIoException.IsIo(e)) { _failure ??= FileIoException.Describe(e); }
            _flushing.Dequeue().Tell(new Flushed(_failure));
        });
    }

    public static Props Props(RunFiles files, RunConsole console, int logEvery, int epochs, ICanTell coordinator, Func<TimeSpan>? clock = null) =>
        Akka.Actor.Props.Create(() => new ReporterActor(files, console, logEvery, epochs, coordinator, clock));

    protected override void PostStop()
    {
        _over = true;
        _events.Dispose();
    }

    private void Workers(int alive, int expected)
    {
        _progress = _progress.WithWorkers(alive, expected);
        if (_progress.Started) _console.Show(_progress);
    }

    private void WriteThroughputAndPlots(bool final = false)
    {
        var samples = _throughput.Samples(_clock(), final);
        Record(() => _files.WriteThroughput(samples));
        if (_failure is null) _plots.Tell(new PlotActor.Draw(_files.Epochs.Select(MetricsRow.Of).ToList(), samples));
    }

    /// <summary>Writes unless a write has already failed; a failure stops the run.</summary>
    private void Record(Action write)
    {
        if (_failure is not null) return;
        try
        {
            write();
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            Failed(FileIoException.Describe(e));
        }
    }

    private void Failed(string failure)
    {
        if (_failure is not null) return;
        _failure = failure;
        // The coordinator's RunFailed brings the line back to print; once the run is over, RunCompleted prints it.
        if (!_over) _coordinator.Tell(new CoordinatorActor.Abort(failure, ExitCodes.Failed), Self);
    }

    private void Line(string text) => Print(_console.Out, text);

    private void ErrorLine(string text) => Print(_console.Error, text);

    /// <summary>A line that cannot be printed (stdout on a full disk) is lost like a line of a file: the run stops.</summary>
    private void Print(TextWriter writer, string text)
    {
        try
        {
            writer.WriteLine(text);
            writer.Flush();
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            Failed(FileIoException.Describe(e));
        }
    }

    public sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    /// <param name="Failure">The file that could not be written, if one could not: the run failed even if it completed.</param>
    public sealed record Flushed(string? Failure);
}
