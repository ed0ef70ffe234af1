using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using DataParallel.Shared.Cluster;

namespace DataParallel.Worker.Actors;

/// <summary>
/// Akka's logger on a worker (akka.loggers in worker.hocon): every line to stderr, which a coordinator that
/// launched the worker forwards with the worker's name, while the worker's stdout is only its own progress.
/// </summary>
public sealed class StderrLoggerActor : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public StderrLoggerActor()
    {
        var withStackTraces = Logging.LogLevelFor(Context.System.Settings.LogLevel) == LogLevel.DebugLevel;
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<Error>(e => Console.Error.WriteLine(AkkaLogFormat.Format("error", e, withStackTraces)));
        Receive<Warning>(w => Console.Error.WriteLine(AkkaLogFormat.Format("warning", w, withStackTraces)));
        Receive<Info>(i => Console.Error.WriteLine(AkkaLogFormat.Format("info", i, withStackTraces)));
        Receive<Debug>(d => Console.Error.WriteLine(AkkaLogFormat.Format("debug", d, withStackTraces)));
    }
}
