using Akka.Actor;
using DataParallel.Coordinator.Reporting;

namespace DataParallel.Coordinator.Actors;

/// <summary>
/// Turns the coordinator's events into console lines and run files. The only writer of either, so the
/// coordinator never blocks on a terminal or a disk.
/// </summary>
public sealed class ReporterActor : ReceiveActor
{
    private readonly RunFiles _files;
    private readonly TextWriter _out;
    private readonly TextWriter _error;
    private readonly int _logEvery;

    public ReporterActor(RunFiles files, TextWriter output, TextWriter error, int logEvery)
    {
        _files = files;
        _out = output;
        _error = error;
        _logEvery = logEvery;

        Receive<WorkerJoined>(j => Line($"worker {j.WorkerId} joined from {j.Address} ({j.Threads} thread{(j.Threads == 1 ? "" : "s")}) [{j.Alive}/{j.Expected}]"));
        Receive<WorkerLeft>(l => Line($"worker {l.WorkerId} left: {l.Reason}; {l.Reassigned} unit(s) reassigned [{l.Alive}/{l.Expected}]"));
        Receive<WorkerRefusedNotice>(r => _error.WriteLine($"refused worker {r.WorkerId} from {r.Address}: {r.Reason}"));
        Receive<Notice>(n => (n.Warning ? _error : _out).WriteLine(n.Text));
        Receive<StepCompleted>(s =>
        {
            if (_logEvery > 0 && (s.Step + 1) % _logEvery == 0) Line(ConsoleLines.Step(s));
        });
        Receive<EpochCompleted>(e =>
        {
            _files.AppendEpoch(e.Metrics);
            Line(ConsoleLines.Epoch(e.Metrics));
        });
        Receive<RunCompleted>(c =>
        {
            _files.WriteResult(c.Result);
            Line(ConsoleLines.Testing(c.Result));
        });
        Receive<RunFailed>(f => _error.WriteLine($"error: {f.Error}"));
        Receive<Flush>(_ =>
        {
            _out.Flush();
            _error.Flush();
            Sender.Tell(Flushed.Instance);
        });
    }

    public static Props Props(RunFiles files, TextWriter output, TextWriter error, int logEvery) =>
        Akka.Actor.Props.Create(() => new ReporterActor(files, output, error, logEvery));

    private void Line(string text)
    {
        _out.WriteLine(text);
        _out.Flush();
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
