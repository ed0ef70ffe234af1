using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using DataParallel.Coordinator.Reporting;

namespace DataParallel.Coordinator.Actors;

/// <summary>
/// Akka's logger (akka.loggers in coordinator.hocon): Akka's warnings and errors, and with --verbose its debug
/// messages, go through the run's console like every other line, so on a terminal they appear above the progress
/// bar instead of through it. The console comes with the actor system's setup (<see cref="Target"/>).
/// </summary>
public sealed class ConsoleLoggerActor : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public ConsoleLoggerActor()
    {
        var console = Context.System.Settings.Setup.Get<Target>();
        // Without a console (a system built elsewhere, such as a test's) Akka's lines still go somewhere sensible.
        var output = console.HasValue ? console.Value.Console.Out : Console.Out;
        var error = console.HasValue ? console.Value.Console.Error : Console.Error;
        var withStackTraces = Logging.LogLevelFor(Context.System.Settings.LogLevel) == LogLevel.DebugLevel;

        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<Error>(e => error.WriteLine(Format("error", e, withStackTraces)));
        Receive<Warning>(w => error.WriteLine(Format("warning", w, withStackTraces)));
        Receive<Info>(i => output.WriteLine(Format("info", i, withStackTraces)));
        Receive<Debug>(d => output.WriteLine(Format("debug", d, withStackTraces)));
    }

    /// <summary>
    /// "warning: message [/user/coordinator]" and the cause's type and message. Akka puts whole exceptions into some
    /// messages; their stack traces, and the cause's, are shown with --verbose only.
    /// </summary>
    public static string Format(string level, LogEvent e, bool withStackTraces)
    {
        var message = e.Message?.ToString() ?? "";
        var line = $"{level}: {(withStackTraces ? message : FirstLine(message))} [{Source(e.LogSource)}]";
        if (e.Cause is { } cause) line += withStackTraces ? $"\n{cause}" : $": {cause.GetType().Name}: {FirstLine(cause.Message)}";
        return line;
    }

    private static string FirstLine(string text) =>
        text.IndexOf('\n') is var newline and >= 0 ? text[..newline].TrimEnd('\r') + " ..." : text;

    /// <summary>An actor path without its address ("/user/coordinator"): on the coordinator the address is always its own.</summary>
    private static string Source(string? source)
    {
        if (string.IsNullOrEmpty(source)) return "akka";
        var scheme = source.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return source;
        var path = source.IndexOf('/', scheme + 3);
        return path < 0 ? source : source[path..];
    }

    /// <summary>The console Akka's lines go to: pass it in the actor system's setup.</summary>
    public sealed class Target(RunConsole console) : Akka.Actor.Setup.Setup
    {
        public RunConsole Console { get; } = console;
    }
}
