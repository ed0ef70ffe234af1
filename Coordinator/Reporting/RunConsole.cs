using Spectre.Console;

namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// Where the coordinator's text goes: results and progress to stdout, warnings and errors to stderr. Every writer
/// in the process (the reporter, Akka's logger, the forwarded output of worker processes) writes through one of
/// these, so on a terminal nothing lands in the middle of the progress bar.
/// </summary>
public abstract class RunConsole : IDisposable
{
    public abstract TextWriter Out { get; }
    public abstract TextWriter Error { get; }

    /// <summary>Shows the progress bar in this state; null takes it away until the next state.</summary>
    public virtual void Show(EpochProgress? progress) { }

    /// <summary>Takes the progress bar away for good: the run is over, only lines follow.</summary>
    public virtual void EndProgress() => RunOver = true;

    /// <summary>True once the run has ended: connections closing after that are expected, not worth a line.</summary>
    public bool RunOver { get; protected set; }

    /// <summary>Returns once everything written so far is out.</summary>
    public virtual void Flush()
    {
        Out.Flush();
        Error.Flush();
    }

    public virtual void Dispose()
    {
        // The last flush of a run that could not write its output: the failure was reported (or could not be).
        try { Flush(); }
        catch (Exception e) when (Shared.IO.FileIoException.IsIo(e)) { }
    }

    /// <summary>
    /// A live progress bar when stdout is this process's terminal and it understands ANSI; plain lines otherwise
    /// (redirected to a file or a pipe, TERM=dumb, CI), with no escape codes at all.
    /// </summary>
    public static RunConsole Create(TextWriter output, TextWriter error)
    {
        if (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected)
        {
            var terminal = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
            if (terminal.Profile.Capabilities is { Ansi: true, Interactive: true })
                return new LiveConsole(terminal, error, errorOnTerminal: ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected);
        }
        return new PlainConsole(new NamedTextWriter(output, "standard output"), new NamedTextWriter(error, "standard error"));
    }
}

/// <summary>Lines only: what a log file, a pipe or CI gets.</summary>
public sealed class PlainConsole(TextWriter output, TextWriter error) : RunConsole
{
    // Several threads write (the reporter, Akka's logger, the readers of worker output): whole lines, one at a time.
    public override TextWriter Out { get; } = TextWriter.Synchronized(output);
    public override TextWriter Error { get; } = TextWriter.Synchronized(error);
}
