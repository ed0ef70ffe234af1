using System.Globalization;
using System.Runtime.InteropServices;
using Akka.Actor;
using DataParallel.Coordinator.Actors;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using DataParallel.Shared.Native;
using DataParallel.Shared.Settings;
using DataParallel.Worker.Actors;

namespace DataParallel.Coordinator;

/// <summary>Exit codes of the coordinator, as documented in the README.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Usage = 1;
    public const int Failed = 2;
    public const int NonFinite = 3;
    public const int Interrupted = 130;
}

/// <summary>
/// Starts one training run: data, model, the coordinator node and its workers in the chosen mode;
/// waits for the coordinator actor's outcome; cleans everything up.
/// </summary>
public static class TrainingHost
{
    public static async Task<int> RunAsync(TrainSettings settings, LaunchSettings launch, TextWriter output, TextWriter error, CancellationToken cancel,
        ResumeRequest? resume = null)
    {
        // From here on every line goes through the console: on a terminal, above the progress bar.
        using var console = RunConsole.Create(output, error);
        (output, error) = (console.Out, console.Error);
        Checkpoint? resumed = null;
        if (resume is not null)
        {
            if (!Directory.Exists(resume.Directory))
                return Fail(error, ExitCodes.Usage, $"--resume {resume.Directory}: no such run directory");
            try
            {
                (resumed, var path) = new CheckpointStore(resume.Directory).LoadNewest(error.WriteLine);
                output.WriteLine($"resuming {resume.Directory} from {Path.GetFileName(path)} (epoch {resumed.Epoch}, step {resumed.Step})");
            }
            catch (CheckpointException e)
            {
                return Fail(error, ExitCodes.Usage, $"--resume {e.Message}");
            }
            settings = resumed.Settings with { Data = resume.Data ?? resumed.Settings.Data };
            launch = launch with { Out = resume.Directory };
        }

        if (!Endpoints.IsLoopback(launch.Host) && launch.Token is null)
            return Fail(error, ExitCodes.Usage, $"--host {launch.Host}: binding beyond loopback needs a join token (--token or {Shared.Security.JoinToken.EnvironmentVariable})");

        MnistDataset train, test;
        try
        {
            MnistFetcher.EnsurePresent(settings.Data, output.WriteLine);
            train = MnistDataset.Load(settings.Data, MnistSplit.Train).Take(settings.LimitTrain);
            test = MnistDataset.Load(settings.Data, MnistSplit.Test).Take(settings.LimitTest);
        }
        catch (DataFileException e)
        {
            return Fail(error, ExitCodes.Failed, e.Message);
        }

        var files = new RunFiles(launch.Out);
        if (resumed is null && (File.Exists(files.PathOf("result.json")) || File.Exists(files.PathOf("metrics.csv")) || Directory.Exists(Path.Combine(launch.Out, "checkpoints"))))
            return Fail(error, ExitCodes.Usage, $"--out {launch.Out}: already holds a run; choose another directory or --resume it");

        TorchRuntime.Configure(launch.Mode == WorkerMode.InProcess ? launch.ThreadsPerWorker : 1);
        var replicas = resumed?.Replicas ?? (settings.Replicas > 0 ? settings.Replicas : launch.Workers);
        if (settings.Sync == SyncMode.Params && settings.BatchSize % replicas != 0)
            return Fail(error, ExitCodes.Usage, $"--batch-size {settings.BatchSize} is not divisible by {replicas} replicas (--sync params)");
        var run = TrainingRun.Create(settings, train, test, replicas);
        var runId = resumed?.RunId ?? Path.GetFileName(Path.GetFullPath(launch.Out).TrimEnd('/'));
        if (resumed is not null)
        {
            try { run.Restore(resumed); }
            catch (ArgumentException e) { return Fail(error, ExitCodes.Usage, $"--resume {resume!.Directory}: {e.Message}"); }
            files.Restore(resumed.History);
        }

        Directory.CreateDirectory(launch.Out);
        files.WriteConfig(new { settings, launch = Describe(launch), run_id = runId, replicas, parameters = run.Layout.ParameterLength, fingerprint = run.Layout.Fingerprint });
        using (var model = new SeedNet(settings.Dropout))
            files.WriteSummary(ModelSummary.Of(model, 1, MnistDataset.Side, MnistDataset.Side).ToString());
        PrintHeader(output, settings, launch, run, train.Count, test.Count, replicas);

        if (launch.Port != 0 && !PortIsFree(launch.Host, launch.Port))
            return Fail(error, ExitCodes.Usage, $"cannot listen on {launch.Host}:{launch.Port}: the port is in use");
        ActorSystem system;
        try
        {
            var endpoint = new NodeEndpoint(launch.Host, launch.Port, launch.PublicHost);
            var seedHost = launch.PublicHost ?? launch.Host;
            var extra = launch.Verbose ? "akka.loglevel = DEBUG" : "";
            // The coordinator is its own seed; with port 0 the seed list is filled in once the port is known.
            var config = ClusterConfig.Node(ClusterConfig.CoordinatorRole, endpoint, [], ClusterConfig.RoleFile("coordinator.hocon"), extra);
            system = ClusterConfig.Start(config, launch.Tls, new ConsoleLoggerActor.Target(console));
        }
        catch (Exception e)
        {
            return Fail(error, ExitCodes.Usage, $"cannot listen on {launch.Host}:{launch.Port}: {e.GetBaseException().Message}");
        }

        LocalWorkerProcesses? processes = null;
        try
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            var self = cluster.SelfAddress;
            await cluster.JoinAsync(self, cancel);
            var port = self.Port ?? launch.Port;
            output.WriteLine($"coordinator listening at {self}");

            var outcome = new TaskCompletionSource<RunOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            var reporter = system.ActorOf(ReporterActor.Props(files, console, launch.LogEvery, settings.Epochs), "reporter");
            var options = new CoordinatorOptions
            {
                RunId = runId,
                ExpectedWorkers = launch.Workers,
                Token = launch.Token,
                WorkerTimeout = launch.WorkerTimeout,
                StragglerMinimum = launch.StragglerMinimum,
                CheckpointEverySteps = launch.CheckpointEverySteps,
            };
            var checkpoints = new CheckpointStore(launch.Out);
            var coordinator = system.ActorOf(CoordinatorActor.Props(options, run, reporter, outcome, checkpoints, resumed), "coordinator");

            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; coordinator.Tell(new CoordinatorActor.Abort("interrupted", ExitCodes.Interrupted)); });
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; coordinator.Tell(new CoordinatorActor.Abort("terminated", ExitCodes.Interrupted)); });
            await using var cancelled = cancel.Register(() => coordinator.Tell(new CoordinatorActor.Abort("cancelled", ExitCodes.Interrupted)));

            switch (launch.Mode)
            {
                case WorkerMode.InProcess:
                    for (var i = 1; i <= launch.Workers; i++)
                    {
                        var workerOptions = new WorkerOptions($"in-process-{i}", ClusterConfig.CoordinatorPath, launch.ThreadsPerWorker, launch.Token, launch.Host)
                        {
                            Cpus = CpuAffinity.ForWorker(i - 1, launch.Workers, launch.ThreadsPerWorker, Environment.ProcessorCount),
                        };
                        system.ActorOf(WorkerActor.Props(workerOptions, new TaskCompletionSource<(WorkerExit, string)>()), $"worker-{i}");
                    }
                    break;
                case WorkerMode.Local:
                    processes = LocalWorkerProcesses.Start(launch.Workers, self.Host!, port, launch.ThreadsPerWorker, launch.Token, launch.Tls, error);
                    break;
                case WorkerMode.External:
                    output.WriteLine($"waiting for {launch.Workers} worker(s); start each with: dotnet run --project Worker -- --seed {launch.PublicHost ?? self.Host}:{port}"
                        + (launch.Tls is null ? "" : $" --tls-certificate {launch.Tls.Path}")
                        + (launch.Token is null ? "" : " (and the join token in --token or DATAPARALLEL_TOKEN)"));
                    break;
            }

            var result = await outcome.Task;
            await reporter.Ask<ReporterActor.Flushed>(ReporterActor.Flush.Instance, TimeSpan.FromSeconds(30));
            if (result.Result is { } final && !Export.ModelFiles.WriteAtEndOfRun(run, launch, final, output, error))
                return ExitCodes.Failed;
            processes?.Stop(TimeSpan.FromSeconds(5));
            return result.ExitCode;
        }
        finally
        {
            processes?.Dispose();
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
            await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        }
    }

    private static void PrintHeader(TextWriter output, TrainSettings s, LaunchSettings launch, TrainingRun run, int trainCount, int testCount, int replicas)
    {
        var c = CultureInfo.InvariantCulture;
        var workers = launch.Mode switch
        {
            WorkerMode.Local => $"{launch.Workers} local worker process{(launch.Workers == 1 ? "" : "es")}",
            WorkerMode.InProcess => $"{launch.Workers} in-process worker{(launch.Workers == 1 ? "" : "s")}",
            _ => $"{launch.Workers} external worker{(launch.Workers == 1 ? "" : "s")}",
        };
        var sync = s.Sync == SyncMode.Grads
            ? $"sync grads, batch {s.BatchSize} in micro-batches of {s.MicroBatch}"
            : $"sync params, {replicas} replicas x {s.BatchSize / replicas} images, {s.LocalSteps} local step(s) per round";
        var schedule = s.Schedule == "onecycle" ? string.Create(c, $"one-cycle to lr {s.LearningRate}") : string.Create(c, $"lr {s.LearningRate} momentum {s.Momentum}");
        output.WriteLine(string.Create(c, $"Training SeedNet ({run.Layout.ParameterLength:N0} parameters) on MNIST: {trainCount:N0} training / {testCount:N0} test images, {s.Epochs} epochs of {run.StepsPerEpoch} steps"));
        output.WriteLine($"  {workers} x {launch.ThreadsPerWorker} thread{(launch.ThreadsPerWorker == 1 ? "" : "s")} | {sync} | {s.Optimizer}, {schedule} | augment {(s.AugmentDegrees > 0 || s.AugmentTranslate > 0 ? string.Create(c, $"±{s.AugmentDegrees}° ±{s.AugmentTranslate * 100}%") : "off")} | seed {s.Seed}");
        output.WriteLine($"  run directory {launch.Out}");
        if (launch.Tls is not null)
            output.WriteLine($"  TLS for Akka.Remote with certificate {launch.Tls.Path} (sha256 {launch.Tls.Sha256})");
    }

    private static object Describe(LaunchSettings l) => new
    {
        workers = l.Workers,
        mode = l.Mode.ToString().ToLowerInvariant(),
        threads_per_worker = l.ThreadsPerWorker,
        host = l.Host,
        port = l.Port,
        public_host = l.PublicHost,
        token = l.Token is null ? "none" : "set (not recorded)",
        tls = l.Tls is null ? null : new { certificate = l.Tls.Path, sha256 = l.Tls.Sha256, password = "not recorded" },
        worker_timeout_seconds = l.WorkerTimeout.TotalSeconds,
        checkpoint_every_steps = l.CheckpointEverySteps,
    };

    private static bool PortIsFree(string host, int port)
    {
        try
        {
            var address = host == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Parse(host);
            var probe = new System.Net.Sockets.TcpListener(address, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException) { return false; }
        catch (FormatException) { return true; } // a host name: let Akka resolve it and report
    }

    private static int Fail(TextWriter error, int code, string message)
    {
        error.WriteLine($"error: {message}");
        return code;
    }
}
