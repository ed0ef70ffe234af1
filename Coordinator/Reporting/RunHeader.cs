using System.Globalization;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Reporting;

/// <summary>What a run says about itself before it starts: the header lines on the console, and its launch in config.json.</summary>
public static class RunHeader
{
    /// <summary>The model, the data, the workers, the optimizer and where the run writes, in three or four lines.</summary>
    public static void Print(TextWriter output, TrainSettings s, LaunchSettings launch, TrainingRun run, int trainCount, int testCount,
        int replicas)
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
        var schedule = s.Schedule == "onecycle"
            ? string.Create(c, $"one-cycle to lr {s.LearningRate}")
            : string.Create(c, $"lr {s.LearningRate} momentum {s.Momentum}");
        output.WriteLine(string.Create(c, $"Training SeedNet ({run.Layout.ParameterLength:N0} parameters) on MNIST: "
            + $"{trainCount:N0} training / {testCount:N0} test images, {s.Epochs} epochs of {run.StepsPerEpoch} steps"));
        var augment = s.AugmentDegrees > 0 || s.AugmentTranslate > 0
            ? string.Create(c, $"±{s.AugmentDegrees}° ±{s.AugmentTranslate * 100}%")
            : "off";
        output.WriteLine($"  {workers} x {launch.ThreadsPerWorker} thread{(launch.ThreadsPerWorker == 1 ? "" : "s")} | {sync} "
            + $"| {s.Optimizer}, {schedule} | augment {augment} | {(s.ChannelsLast ? "channels-last" : "nchw")} | seed {s.Seed}");
        output.WriteLine($"  run directory {launch.Out}");
        if (launch.Tls is not null)
            output.WriteLine($"  TLS for Akka.Remote with certificate {launch.Tls.Path} (sha256 {launch.Tls.Sha256})");
    }

    /// <summary>The launch settings as recorded in config.json: secrets named, never written.</summary>
    public static object Describe(LaunchSettings l) => new
    {
        workers = l.Workers,
        mode = l.Mode.ToString().ToLowerInvariant(),
        threads_per_worker = l.ThreadsPerWorker,
        host = l.Host,
        port = l.Port,
        data_channel = l.DataChannel,
        data_port = l.DataPort,
        public_host = l.PublicHost,
        token = l.Token is null ? "none" : "set (not recorded)",
        tls = l.Tls is null ? null : new { certificate = l.Tls.Path, sha256 = l.Tls.Sha256, password = "not recorded" },
        worker_timeout_seconds = l.WorkerTimeout.TotalSeconds,
        checkpoint_every_steps = l.CheckpointEverySteps,
    };
}
