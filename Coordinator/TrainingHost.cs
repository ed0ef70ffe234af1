using System.Globalization;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using DataParallel.Coordinator.Actors;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Coordinator.Transport;
using DataParallel.Shared.Serialization;
using DataParallel.Shared.Actors;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using DataParallel.Shared.Native;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator;

/// <summary>
/// Starts one training run, step by step: what to continue from, the data, the run directory, the coordinator's
/// node, its workers in the chosen mode; then waits for the coordinator actor's outcome and cleans everything up.
/// A step that cannot go on throws <see cref="RunRefused"/>: one line, one exit code, nothing half-written.
/// </summary>
public static class TrainingHost
{
    public static async Task<int> RunAsync(TrainSettings settings, LaunchSettings launch, TextWriter output, TextWriter error,
        CancellationToken cancel, ResumeRequest? resume = null)
    {
        // From here on every line goes through the console: on a terminal, above the progress bar.
        using var console = RunConsole.Create(output, error);
        try
        {
            var resumed = resume is null ? null : Resume(resume, console.Out, console.Error);
            if (resumed is not null)
                (settings, launch) = (resumed.Settings with { Data = resume!.Data ?? resumed.Settings.Data }, launch with { Out = resume.Directory });
            CheckBinding(launch);
            var (train, test) = LoadData(settings, console.Out);
            var files = new RunFiles(launch.Out);
            var (run, runId) = PrepareRun(settings, ref launch, resumed, files, train, test, console.Out);
            using var system = StartNode(launch, console);
            return await TrainAsync(system, settings, launch, run, runId, resumed, files, console, cancel);
        }
        catch (RunRefused e)
        {
            console.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (Exception e) when (Shared.IO.FileIoException.IsIo(e))
        {
            // config.json, summary.txt, a checkpoint that cannot be read: one line, never a stack trace.
            console.Error.WriteLine($"error: {Shared.IO.FileIoException.Describe(e)}");
            return ExitCodes.Failed;
        }
    }

    private static Checkpoint Resume(ResumeRequest resume, TextWriter output, TextWriter error)
    {
        if (!Directory.Exists(resume.Directory)) throw new RunRefused(ExitCodes.Usage, $"--resume {resume.Directory}: no such run directory");
        try
        {
            var (resumed, path) = new CheckpointStore(resume.Directory).LoadNewest(error.WriteLine);
            output.WriteLine($"resuming {resume.Directory} from {Path.GetFileName(path)} (epoch {resumed.Epoch}, step {resumed.Step})");
            return resumed;
        }
        catch (CheckpointException e)
        {
            throw new RunRefused(ExitCodes.Usage, $"--resume {e.Message}");
        }
    }

    private static void CheckBinding(LaunchSettings launch)
    {
        if (BindingRule.Check("--host", launch.Host, launch.Tls is not null, launch.Token is not null) is { } refused)
            throw new RunRefused(ExitCodes.Usage, refused);
        if (launch.NoTls && launch.Tls is not null) throw new RunRefused(ExitCodes.Usage, "--no-tls and --tls-certificate exclude each other");
        if (launch.Port != 0 && !PortIsFree(launch.Host, launch.Port))
            throw new RunRefused(ExitCodes.Usage, $"cannot listen on {launch.Host}:{launch.Port}: the port is in use");
        if (launch.DataPort is > 0 and var data && !PortIsFree(launch.Host, data))
            throw new RunRefused(ExitCodes.Usage, $"--data-port {data}: cannot listen on {launch.Host}:{data}: the port is in use");
    }

    private static (MnistDataset Train, MnistDataset Test) LoadData(TrainSettings settings, TextWriter output)
    {
        try
        {
            MnistFetcher.EnsurePresent(settings.Data, output.WriteLine);
            return (MnistDataset.Load(settings.Data, MnistSplit.Train).Take(settings.LimitTrain),
                    MnistDataset.Load(settings.Data, MnistSplit.Test).Take(settings.LimitTest));
        }
        catch (DataFileException e)
        {
            throw new RunRefused(ExitCodes.Failed, e.Message);
        }
    }

    /// <summary>The run's state (new, or restored from its checkpoint) and its directory with config and summary.</summary>
    private static (TrainingRun Run, string RunId) PrepareRun(TrainSettings settings, ref LaunchSettings launch, Checkpoint? resumed, RunFiles files,
        MnistDataset train, MnistDataset test, TextWriter output)
    {
        if (resumed is null && (File.Exists(files.PathOf("result.json")) || File.Exists(files.PathOf("metrics.csv"))
            || Directory.Exists(Path.Combine(launch.Out, "checkpoints"))))
            throw new RunRefused(ExitCodes.Usage, $"--out {launch.Out}: already holds a run; choose another directory or --resume it");
        TorchRuntime.Configure(launch.Mode == WorkerMode.InProcess ? launch.ThreadsPerWorker : 1);
        var replicas = resumed?.Replicas ?? (settings.Replicas > 0 ? settings.Replicas : launch.Workers);
        if (settings.Sync == SyncMode.Params && settings.BatchSize % replicas != 0)
            throw new RunRefused(ExitCodes.Usage, $"--batch-size {settings.BatchSize} is not divisible by {replicas} replicas (--sync params)");
        var run = TrainingRun.Create(settings, train, test, replicas);
        var runId = resumed?.RunId ?? Path.GetFileName(Path.GetFullPath(launch.Out).TrimEnd('/'));
        if (resumed is not null)
        {
            try { run.Restore(resumed); }
            catch (ArgumentException e) { throw new RunRefused(ExitCodes.Usage, $"--resume {launch.Out}: {e.Message}"); }
            files.Restore(resumed.History);
            Shared.IO.AtomicFile.RemoveLeftovers(launch.Out); // what a killed run was writing
        }

        Directory.CreateDirectory(launch.Out);
        // TLS even on loopback: without the run's certificate, no other process can reach its actors.
        if (launch.Tls is null && !launch.NoTls) launch = launch with { Tls = ClusterCertificate.ForRun(launch.Out), RunCertificate = true };
        files.WriteConfig(new
        {
            settings, launch = RunHeader.Describe(launch), run_id = runId, replicas,
            parameters = run.Layout.ParameterLength, fingerprint = run.Layout.Fingerprint, data_sha256 = run.DataSha256,
        });
        using (var model = new SeedNet(settings.Dropout, channelsLast: false)) // the summary's hooks see NCHW modules; shapes are the same
            files.WriteSummary(ModelSummary.Of(model, 1, MnistDataset.Side, MnistDataset.Side).ToString());
        RunHeader.Print(output, settings, launch, run, train.Count, test.Count, replicas);
        return (run, runId);
    }

    private static ActorSystem StartNode(LaunchSettings launch, RunConsole console)
    {
        try
        {
            var endpoint = new NodeEndpoint(launch.Host, launch.Port, launch.PublicHost);
            var extra = launch.Verbose ? "akka.loglevel = DEBUG" : "";
            // The coordinator is its own seed; with port 0 the seed list is filled in once the port is known.
            var config = ClusterConfig.Node(ClusterConfig.CoordinatorRole, endpoint, [], ClusterConfig.RoleFile("coordinator.hocon"), extra);
            return ClusterConfig.Start(config, launch.Tls, new ConsoleLoggerActor.Target(console));
        }
        catch (Exception e)
        {
            throw new RunRefused(ExitCodes.Usage, $"cannot listen on {launch.Host}:{launch.Port}: {e.GetBaseException().Message}");
        }
    }

    private static async Task<int> TrainAsync(ActorSystem system, TrainSettings settings, LaunchSettings launch, TrainingRun run, string runId,
        Checkpoint? resumed, RunFiles files, RunConsole console, CancellationToken cancel)
    {
        LocalWorkerProcesses? processes = null;
        try
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            var self = cluster.SelfAddress;
            await cluster.JoinAsync(self, cancel);
            console.Out.WriteLine($"coordinator listening at {self}");

            using var dataPort = StartDataPort(system, launch, console);
            var outcome = new TaskCompletionSource<RunOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            var reporter = system.ActorOf(
                ReporterActor.Props(files, console, launch.LogEvery, settings.Epochs, system.ActorSelection(ClusterConfig.CoordinatorPath)),
                "reporter");
            var coordinator = system.ActorOf(
                CoordinatorActor.Props(launch, runId, run, reporter, outcome, new CheckpointStore(launch.Out), resumed, dataPort), "coordinator");

            void Abort(string why) => coordinator.Tell(new CoordinatorActor.Abort(why, ExitCodes.Interrupted));
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; Abort("interrupted"); });
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Abort("terminated"); });
            await using var cancelled = cancel.Register(() => Abort("cancelled"));

            processes = StartWorkers(system, launch, self, console);
            var result = await outcome.Task;
            ReporterActor.Flushed flushed;
            try
            {
                flushed = await reporter.Ask<ReporterActor.Flushed>(ReporterActor.Flush.Instance, TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                // The node itself went down under the run (Akka.Remote stops it when an outbound TLS handshake fails).
                var why = CoordinatedShutdown.Get(system).ShutdownReason;
                console.Error.WriteLine($"error: {result.Error ?? "the run stopped"}: the coordinator's node shut down"
                    + (ClusterTls.IsHandshakeFailure(why) ? " after a failed outbound TLS handshake" : why is null ? "" : $" ({why})"));
                return result.ExitCode == ExitCodes.Ok ? ExitCodes.Failed : result.ExitCode;
            }
            if (flushed.Failure is not null && result.ExitCode == ExitCodes.Ok) result = new RunOutcome(ExitCodes.Failed, null, flushed.Failure);
            if (result.Result is { } final && !Export.ModelFiles.WriteAtEndOfRun(run, launch, final, console.Out, console.Error))
                return ExitCodes.Failed;
            processes?.Stop(TimeSpan.FromSeconds(5));
            // A finished run needs its certificate no more; one that stopped early keeps it for --resume.
            if (result.ExitCode == ExitCodes.Ok && launch.RunCertificate) File.Delete(launch.Tls!.Path);
            return result.ExitCode;
        }
        finally
        {
            processes?.Dispose();
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
            await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        }
    }

    /// <summary>
    /// The data channels' listener, beside Akka.Remote's, for workers in other processes (which port it takes:
    /// <see cref="DataPort.StartForRun"/>).
    /// </summary>
    private static DataPort? StartDataPort(ActorSystem system, LaunchSettings launch, RunConsole console)
    {
        if (!launch.DataChannel || launch.Mode == WorkerMode.InProcess) return null;
        var address = BindAddress(launch.Host) ?? System.Net.Dns.GetHostAddresses(launch.Host).First();
        DataPort port;
        try
        {
            port = DataPort.StartForRun(address, launch.DataPort, launch.Port, launch.Tls, ProtocolSerializer.Of(system),
                message => system.Log.Warning("{0}", message), out var movedFrom);
            if (movedFrom is { } taken)
                console.Out.WriteLine($"port {taken} is taken: the data channel listens on {port.Port} instead (set it with --data-port)");
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new RunRefused(ExitCodes.Usage, launch.DataPort is { } given
                ? $"--data-port {given}: cannot listen on {launch.Host}:{given}: {e.Message}"
                : $"cannot listen for data channels on {launch.Host}: {e.Message}");
        }
        console.Out.WriteLine($"data channel listening at {launch.Host}:{port.Port} "
            + $"({(port.Tls ? "TLS with the run's certificate" : "plain TCP")}; workers reach it at the host they joined by)");
        return port;
    }

    /// <summary>The address to bind for --host: loopback for "localhost", an IP as given, else null (a host name).</summary>
    private static System.Net.IPAddress? BindAddress(string host) =>
        host == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.TryParse(host, out var address) ? address : null;

    /// <summary>Workers in the chosen mode: actors in this system, local processes, or instructions for external ones.</summary>
    private static LocalWorkerProcesses? StartWorkers(ActorSystem system, LaunchSettings launch, Address self, RunConsole console)
    {
        var port = self.Port ?? launch.Port;
        switch (launch.Mode)
        {
            case WorkerMode.InProcess:
                for (var i = 1; i <= launch.Workers; i++)
                {
                    var options = new WorkerOptions(
                        $"in-process-{i}", ClusterConfig.CoordinatorPath, launch.ThreadsPerWorker, launch.Token, launch.Host)
                    {
                        Cpus = CpuAffinity.ForWorker(i - 1, launch.Workers, launch.ThreadsPerWorker, Environment.ProcessorCount),
                    };
                    system.ActorOf(WorkerActor.Props(options, new TaskCompletionSource<(WorkerExit, string)>()), $"worker-{i}");
                }
                return null;
            case WorkerMode.Local:
                return LocalWorkerProcesses.Start(launch.Workers, self.Host!, port, launch.ThreadsPerWorker, launch.Token, launch.Tls, console.Error);
            default:
                console.Out.WriteLine($"waiting for {launch.Workers} worker(s); "
                    + $"start each with: dotnet run --project Worker -- --seed {launch.PublicHost ?? self.Host}:{port}"
                    + (launch.Tls is null ? "" : $" --tls-certificate {launch.Tls.Path}")
                    + (launch.Token is null ? "" : " (and the join token in --token or DATAPARALLEL_TOKEN)"));
                return null;
        }
    }

    /// <summary>A run that cannot start: the message is one line naming the file, option or port at fault.</summary>
    private sealed class RunRefused(int exitCode, string message) : Exception(message)
    {
        public int ExitCode { get; } = exitCode;
    }

    private static bool PortIsFree(string host, int port)
    {
        // A host name: let Akka resolve it and report.
        if (BindAddress(host) is not { } address) return true;
        try
        {
            var probe = new System.Net.Sockets.TcpListener(address, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException) { return false; }
    }
}
