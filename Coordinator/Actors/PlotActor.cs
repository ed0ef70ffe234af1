using Akka.Actor;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.IO;
using DataParallel.Shared.Native;

namespace DataParallel.Coordinator.Actors;

/// <summary>
/// Draws the run's three PNGs and writes them, for the reporter, on a thread of its own at the lowest CPU priority
/// (<see cref="DispatcherId"/>, nice 19): drawing takes a few hundred milliseconds of CPU, most of it the first time
/// (JIT), and at normal priority it took them from the workers on the same cores at the start of every epoch
/// (measured: the first 20 steps of an epoch at 4,300 img/s instead of 7,000). Now it runs in the time the workers
/// leave idle. Only the newest request is drawn: one that arrives while another is being drawn replaces any still
/// waiting, so a slow drawing never queues up behind the run. On that thread it first draws the three charts once
/// in memory (<see cref="WarmUp"/>) while the workers start: the first drawing cost about 330 ms of CPU (JIT,
/// fonts), the ones after it 50 (17 since <see cref="Plots.Png"/>), and that first one used to fall into the second
/// epoch, on the cores the workers compute on (measured: that epoch 4-7% slower than the ones after it).
/// </summary>
public sealed class PlotActor : ReceiveActor
{
    /// <summary>A dispatcher of one thread per actor, configured in coordinator.hocon.</summary>
    public const string DispatcherId = "akka.plot-dispatcher";

    /// <summary>Draw these and write them to the run directory.</summary>
    public sealed record Draw(IReadOnlyList<MetricsRow> Epochs, IReadOnlyList<ThroughputSample> Throughput);

    /// <summary>Replies <see cref="Flushed"/> once every request before it is written (or has failed).</summary>
    public sealed class Flush
    {
        public static readonly Flush Instance = new();
        private Flush() { }
    }

    public sealed class Flushed
    {
        public static readonly Flushed Instance = new();
        private Flushed() { }
    }

    /// <summary>
    /// Told to the parent (the reporter) when a drawing fails: a file that could not be written stops the run
    /// (<paramref name="Warning"/> false); a chart the library could not draw does not, the run goes on without
    /// pictures.
    /// </summary>
    public sealed record NotDrawn(string Reason, bool Warning);

    private sealed class Next
    {
        public static readonly Next Instance = new();
        private Next() { }
    }

    private sealed class WarmUp
    {
        public static readonly WarmUp Instance = new();
        private WarmUp() { }
    }

    private readonly RunFiles _files;
    private Draw? _waiting;

    public PlotActor(RunFiles files)
    {
        _files = files;
        Receive<WarmUp>(_ =>
        {
            // A failure here is left to the real drawing, which reports what it cannot draw.
            try { WarmUpPlots(); }
            catch (Exception e) when (e is not OutOfMemoryException) { }
        });
        Receive<Draw>(d =>
        {
            if (_waiting is null) Self.Tell(Next.Instance);
            _waiting = d;
        });
        Receive<Next>(_ => DrawWaiting());
        Receive<Flush>(_ =>
        {
            DrawWaiting();
            Sender.Tell(Flushed.Instance);
        });
    }

    /// <summary>On <see cref="DispatcherId"/> where the actor system has it (the coordinator's), else on the default.</summary>
    public static Props Props(RunFiles files, ActorSystem system)
    {
        var props = Akka.Actor.Props.Create(() => new PlotActor(files));
        return system.Dispatchers.HasDispatcher(DispatcherId) ? props.WithDispatcher(DispatcherId) : props;
    }

    protected override void PreStart()
    {
        // Only on a thread of its own: a thread-pool thread would stay at nice 19 for whatever runs on it next, and
        // warming up there would take the CPU at normal priority.
        if (Context.Props.Dispatcher != DispatcherId) return;
        ThreadNice.SetCurrent(ThreadNice.Lowest);
        Self.Tell(WarmUp.Instance);
    }

    /// <summary>
    /// Charts shaped like a run's (two epochs, two workers), drawn through the same code as a real request and then
    /// thrown away: the code and the fonts are ready when the first epoch ends.
    /// </summary>
    public static RunPlots WarmUpPlots() => RunPlots.Render(
        [new MetricsRow(1, 0.5, 0.8, 0.1, 0.97, 3, 7000, 2, 0.1), new MetricsRow(2, 0.1, 0.96, 0.05, 0.98, 3, 7000, 2, 0.05)],
        [new(1, "w1", 3500), new(2, "w1", 3500), new(1, "w2", 3500), new(2, "w2", 3500)]);

    /// <summary>Draws and writes the waiting request, if any.</summary>
    private void DrawWaiting()
    {
        if (_waiting is not { } draw) return;
        _waiting = null;
        RunPlots plots;
        try
        {
            plots = RunPlots.Render(draw.Epochs, draw.Throughput);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Context.Parent.Tell(new NotDrawn($"could not draw the plots for {_files.Directory}: {e.GetType().Name}: {e.Message}", Warning: true));
            return;
        }
        try
        {
            _files.WritePlots(plots);
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            Context.Parent.Tell(new NotDrawn(FileIoException.Describe(e), Warning: false));
        }
    }
}
