using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// A Spectre.Console progress bar at the bottom of the terminal, with the lines scrolling above it. Spectre's
/// Progress holds a thread for as long as it is shown, so lines and bar updates alike go through a queue to one
/// render thread: their order is kept, nothing else writes to the terminal meanwhile, and writers never wait
/// (but for <see cref="Flush"/>).
/// </summary>
public sealed class LiveConsole : RunConsole
{
    // Steps can finish dozens of times a second; the bar need not be redrawn as often, a worker change at once.
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMilliseconds(100);
    private static readonly Style WarningStyle = new(Color.Yellow);

    private readonly IAnsiConsole _terminal;
    private readonly TextWriter _error;
    private readonly BlockingCollection<Command> _commands = new();
    private readonly Thread _thread;
    private int _disposed;
    private volatile bool _barWorks = true;

    /// <param name="errorOnTerminal">Whether stderr is the same terminal: then its lines go above the bar too.</param>
    public LiveConsole(IAnsiConsole terminal, TextWriter error, bool errorOnTerminal)
    {
        _terminal = terminal;
        _error = TextWriter.Synchronized(error);
        Out = TextWriter.Synchronized(new LineWriter(text => Enqueue(new Line(text, IsError: false))));
        Error = errorOnTerminal ? TextWriter.Synchronized(new LineWriter(text => Enqueue(new Line(text, IsError: true)))) : _error;
        _thread = new Thread(Run) { IsBackground = true, Name = "progress-bar" };
        _thread.Start();
    }

    public override TextWriter Out { get; }
    public override TextWriter Error { get; }

    public override void Show(EpochProgress? progress) => Enqueue(new ShowProgress(progress));

    public override void EndProgress()
    {
        RunOver = true;
        Enqueue(EndBar.Instance);
    }

    public override void Flush()
    {
        Out.Flush();
        Error.Flush();
        // Not disposed: after a timeout the render thread may still set it.
        var done = new ManualResetEventSlim();
        if (Enqueue(new FlushRequest(done))) done.Wait(TimeSpan.FromSeconds(10));
        _error.Flush();
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        Out.Flush();
        Error.Flush();
        _commands.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(10));
    }

    private bool Enqueue(Command command)
    {
        try
        {
            _commands.Add(command);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // A late line (Akka shutting down after the run): the bar is gone, so it can go straight out.
            if (command is Line line) (line.IsError ? _error : Console.Out).WriteLine(line.Text);
            return false;
        }
    }

    private void Run()
    {
        foreach (var command in _commands.GetConsumingEnumerable())
        {
            try
            {
                if (command is ShowProgress { Progress: { } first } && _barWorks) Live(first);
                else Apply(command);
            }
            catch (Exception e)
            {
                // The display must never take the run down: without a bar, lines still go out.
                _barWorks = false;
                _error.WriteLine($"warning: progress bar stopped: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private void Apply(Command command)
    {
        switch (command)
        {
            case Line line when _barWorks:
                _terminal.Write(new LineAboveBar(line.Text, line.IsError ? WarningStyle : Style.Plain));
                break;
            case Line line:
                (line.IsError ? _error : Console.Out).WriteLine(line.Text);
                break;
            case FlushRequest flush:
                flush.Done.Set();
                break;
        }
    }

    /// <summary>Shows the bar until <see cref="EndBar"/> or disposal; lines meanwhile are written above it.</summary>
    private void Live(EpochProgress first) =>
        _terminal.Progress()
            .AutoRefresh(false)
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 30 }, new StatusColumn())
            .Start(context =>
            {
                var bar = new Bar(context);
                bar.Show(first);
                context.Refresh();
                var sinceRefresh = Stopwatch.StartNew();
                var pending = false;
                while (true)
                {
                    var wait = pending ? (int)Math.Max(0, (RefreshEvery - sinceRefresh.Elapsed).TotalMilliseconds) : Timeout.Infinite;
                    var took = _commands.TryTake(out var command, wait);
                    if (!took && _commands.IsCompleted) return;
                    if (command is EndBar) return;
                    if (command is ShowProgress show)
                    {
                        var urgent = bar.Show(show.Progress);
                        if (!urgent && sinceRefresh.Elapsed < RefreshEvery)
                        {
                            pending = true;
                            continue;
                        }
                    }
                    else if (command is not null)
                    {
                        Apply(command);
                        continue;
                    }
                    // A state to draw now, or the wait for a pending one is over.
                    context.Refresh();
                    sinceRefresh.Restart();
                    pending = false;
                }
            });

    /// <summary>The one Spectre task of the current epoch.</summary>
    private sealed class Bar(ProgressContext context)
    {
        private ProgressTask? _task;
        private int _epoch;
        private int _alive;

        /// <returns>Whether the change should be seen at once: a new epoch, or a worker joined or left.</returns>
        public bool Show(EpochProgress? progress)
        {
            if (progress is null)
            {
                if (_task is null) return false;
                context.RemoveTask(_task);
                _task = null;
                return true;
            }
            var urgent = _task is null || progress.Epoch != _epoch || progress.Alive != _alive;
            if (_task is not null && progress.Epoch != _epoch)
            {
                context.RemoveTask(_task);
                _task = null;
            }
            _task ??= context.AddTask(Markup.Escape(progress.Title), autoStart: true, maxValue: Math.Max(1, progress.StepsPerEpoch));
            _task.MaxValue = Math.Max(1, progress.StepsPerEpoch);
            _task.Value = progress.Step;
            _task.Description = Markup.Escape(progress.Title);
            _task.Tag = progress.Status;
            _epoch = progress.Epoch;
            _alive = progress.Alive;
            return urgent;
        }
    }

    /// <summary>Steps, loss, speed, time left and workers, as <see cref="EpochProgress.Status"/> words them.</summary>
    private sealed class StatusColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) => new Text(task.Tag as string ?? "");
    }

    /// <summary>
    /// A line written while the bar shows. Spectre moves the cursor to the top of the bar and writes over it without
    /// clearing, so a line shorter than the bar, or wrapping into it, would leave pieces of the bar behind: clear first.
    /// The text is one segment, so the terminal wraps it softly and it stays one line when copied.
    /// </summary>
    private sealed class LineAboveBar(string text, Style style) : IRenderable
    {
        private readonly Segment _text = new(text, style);

        public Measurement Measure(RenderOptions options, int maxWidth) => new(Math.Min(_text.CellCount(), maxWidth), _text.CellCount());

        public IEnumerable<Segment> Render(RenderOptions options, int maxWidth) =>
            [Segment.Control("\u001b[0J"), _text, Segment.LineBreak];
    }

    /// <summary>A TextWriter that hands on whole lines.</summary>
    private sealed class LineWriter(Action<string> line) : TextWriter
    {
        private readonly StringBuilder _pending = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                line(_pending.ToString().TrimEnd('\r'));
                _pending.Clear();
            }
            else _pending.Append(value);
        }

        public override void Flush()
        {
            if (_pending.Length == 0) return;
            line(_pending.ToString());
            _pending.Clear();
        }
    }

    private abstract record Command;

    private sealed record Line(string Text, bool IsError) : Command;

    private sealed record ShowProgress(EpochProgress? Progress) : Command;

    private sealed record EndBar : Command
    {
        public static readonly EndBar Instance = new();
    }

    private sealed record FlushRequest(ManualResetEventSlim Done) : Command;
}
