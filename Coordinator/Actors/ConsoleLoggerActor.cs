using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.Cluster;

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
        // After the run, workers leave and their connections drop: Akka.Remote reports each one, and none matters.
        bool Expected(LogEvent e) => console.HasValue && console.Value.Console.RunOver && !withStackTraces
            && (e.LogSource?.Contains("endpointManager") == true || e.Message?.ToString()?.Contains("Association with remote system") == true);
        Receive<Error>(e => { if (!Expected(e)) error.WriteLine(AkkaLogFormat.Format("error", e, withStackTraces)); });
        Receive<Warning>(w => { if (!Expected(w)) error.WriteLine(AkkaLogFormat.Format("warning", w, withStackTraces)); });
        Receive<Info>(i => output.WriteLine(AkkaLogFormat.Format("info", i, withStackTraces)));
        Receive<Debug>(d => output.WriteLine(AkkaLogFormat.Format("debug", d, withStackTraces)));
    }

    /// <summary>The console Akka's lines go to: pass it in the actor system's setup.</summary>
    public sealed class Target(RunConsole console) : Akka.Actor.Setup.Setup
    {
        public RunConsole Console { get; } = console;
    }
}
