using System.CommandLine;
using System.CommandLine.Parsing;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Native;
using DataParallel.Shared.Security;
using DataParallel.Shared.Settings;
using DataParallel.Shared.Training;

namespace DataParallel.Coordinator.Cli;

/// <summary>`train`: every option, its default and its validation. Defaults come from TrainSettings and LaunchSettings.</summary>
public static class TrainCommand
{
    /// <summary>MNIST's training set: a larger batch or limit would mean the same as this one.</summary>
    private const int MaxBatch = 60_000;
    /// <summary>MNIST's test set.</summary>
    private const int MaxEvalChunk = 10_000;
    /// <summary>A unit's images travel in one Akka.Remote message, at most 32 MiB (cluster.hocon): 16,384 images are 12.8 MB.</summary>
    private const int MaxImagesPerUnit = 16_384;
    private const string ImagesPerUnitWhy = "a unit's images travel in one 32 MiB message";
    /// <summary>
    /// Each local worker is a process of about 0.5 GB (measured) computing with at least one libtorch thread: beyond a
    /// few per core they only take turns on the cores and fill memory. --external has no such bound.
    /// </summary>
    private const int LocalWorkersPerCore = 4;
    private const int MaxEpochs = 100_000;

    public static Command Create()
    {
        var d = new TrainSettings();
        var data = CoordinatorCommands.DataOption();
        var epochs = new Option<int>("--epochs") { Description = "Epochs to train", DefaultValueFactory = _ => d.Epochs }
            .Within(1, MaxEpochs, "a run's epochs are numbered in its checkpoint and file names");
        var batch = new Option<int>("--batch-size")
        {
            Description = "Global batch: images per optimizer step",
            DefaultValueFactory = _ => d.BatchSize,
        }.Within(1, MaxBatch, "MNIST's training set");
        var micro = new Option<int>("--micro-batch")
        {
            Description = "Images per unit of work; BatchNorm statistics are per micro-batch. Must divide --batch-size",
            DefaultValueFactory = _ => d.MicroBatch,
        }.Within(1, MaxImagesPerUnit, ImagesPerUnitWhy);
        var lr = new Option<double>("--lr")
        {
            Description = "Peak learning rate (one-cycle) or the constant rate",
            DefaultValueFactory = _ => d.LearningRate,
        }.Above(0);
        var momentum = new Option<double>("--momentum")
        {
            Description = "Momentum (Adam: beta1) with --schedule constant; one-cycle cycles it 0.95 -> 0.85 -> 0.95",
            DefaultValueFactory = _ => d.Momentum,
        }.Within(0, 1, maxExcluded: true);
        var weightDecay = new Option<double>("--weight-decay")
        {
            Description = "L2 weight decay",
            DefaultValueFactory = _ => d.WeightDecay,
        }.Above(0, inclusive: true);
        var optimizer = new Option<string>("--optimizer") { Description = "sgd, nesterov or adam", DefaultValueFactory = _ => d.Optimizer };
        optimizer.AcceptOnlyFromAmong(Optimizers.Names);
        var schedule = new Option<string>("--schedule") { Description = "onecycle or constant", DefaultValueFactory = _ => d.Schedule };
        schedule.AcceptOnlyFromAmong(TrainSettings.Schedules);
        var layout = new Option<string>("--layout")
        {
            Description = "Memory layout of the activations: channels-last (faster) or nchw; results differ in the bits, not in determinism",
            DefaultValueFactory = _ => d.ChannelsLast ? "channels-last" : "nchw",
        };
        layout.AcceptOnlyFromAmong("channels-last", "nchw");
        var seed = new Option<long>("--seed")
        {
            Description = "Seed of everything random: initialisation, order, augmentation, dropout",
            DefaultValueFactory = _ => d.Seed,
        };
        var limitTrain = new Option<int?>("--limit-train")
        {
            Description = "Use only the first N training images",
        }.Within(1, MaxBatch, "MNIST's training set");
        var limitTest = new Option<int?>("--limit-test")
        {
            Description = "Use only the first N test images",
        }.Within(1, MaxEvalChunk, "MNIST's test set");
        var dropout = new Option<double>("--dropout")
        {
            Description = "Dropout probability after each block",
            DefaultValueFactory = _ => d.Dropout,
        }.Within(0, 1, maxExcluded: true);
        var noAugment = new Option<bool>("--no-augment")
        {
            Description = $"Turn off the light augmentation (rotation ±{d.AugmentDegrees}°, shift ±{d.AugmentTranslate * 100}%)",
        };
        var sync = new Option<SyncMode>("--sync")
        {
            Description = "grads: average gradients every step (default); params: average whole replicas every --local-steps",
            DefaultValueFactory = _ => d.Sync,
        };
        var localSteps = Positive(new Option<int>("--local-steps")
        {
            Description = "--sync params: optimizer steps each replica takes between averagings",
            DefaultValueFactory = _ => d.LocalSteps,
        });
        var replicas = new Option<int>("--replicas")
        {
            Description = "--sync params: model replicas (default: --workers)",
            DefaultValueFactory = _ => 0,
        }.Within(0, OptionRules.MaxWorkers);
        var evalChunk = new Option<int>("--eval-chunk")
        {
            Description = "Test images per evaluation unit",
            DefaultValueFactory = _ => d.EvalChunk,
        }.Within(1, MaxEvalChunk, "MNIST's test set");
        var output = new Option<string>("--out")
        {
            Description = "Run directory (default runs/<timestamp>)",
            DefaultValueFactory = _ => RepositoryPaths.DefaultOut(),
        };

        var l = new LaunchSettings();
        var workers = new Option<int>("--workers")
        {
            Description = $"Number of workers (local or in-process: at most {LocalWorkersPerCore} per core)",
            DefaultValueFactory = _ => l.Workers,
        }.Within(1, OptionRules.MaxWorkers);
        var inProcess = new Option<bool>("--in-process") { Description = "Run the workers as actors inside this process (a single-node cluster)" };
        var external = new Option<bool>("--external")
        {
            Description = "Wait for workers started elsewhere with `dotnet run --project Worker -- --seed HOST:PORT`",
        };
        var threads = new Option<int?>("--threads-per-worker")
        {
            Description = "libtorch threads per worker (default: cores / workers). Results are bit-identical only at equal values",
        }.Within(1, OptionRules.MaxThreads);
        var host = new Option<string>("--host")
        {
            Description = "Address the coordinator binds (beyond loopback needs --token)",
            DefaultValueFactory = _ => l.Host,
        }.Host();
        var port = new Option<int?>("--port") { Description = "Port the coordinator binds (default: any free port; 4053 with --external)" };
        port.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 0 or > 65535) r.AddError("--port must be between 0 and 65535"); });
        var dataPort = new Option<int?>("--data-port")
        {
            Description = "Port of the data channel that carries the step's tensors (default: --port + 1 when --port is set, else any free port)",
        };
        dataPort.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 0 or > 65535) r.AddError("--data-port must be between 0 and 65535"); });
        var noDataChannel = new Option<bool>("--no-data-channel")
        {
            Description = "Send the step's tensors through Akka.Remote as well (slower; for measuring what the data channel saves)",
        };
        var publicHost = new Option<string?>("--public-host") { Description = "Address workers use to reach the coordinator, if not --host" }.Host();
        var token = new Option<string?>("--token")
        {
            Description = $"Join token workers must prove they hold (or set {JoinToken.EnvironmentVariable})",
        };
        var workerTimeout = new Option<double>("--worker-timeout")
        {
            Description = "Seconds without any reply before a worker holding work is declared dead",
            DefaultValueFactory = _ => l.WorkerTimeout.TotalSeconds,
        }.Seconds();
        var logEvery = new Option<int>("--log-every")
        {
            Description = "Also print a line every N steps (0: epoch lines only)",
            DefaultValueFactory = _ => 0,
        }.Within(0, MaxBatch, "the steps of an epoch at batch 1");
        var verbose = new Option<bool>("--verbose") { Description = "Akka debug logging" };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in this directory from its newest valid checkpoint (its settings come from the checkpoint)",
        };
        var checkpointEvery = new Option<int>("--checkpoint-every-steps")
        {
            Description = "Checkpoint every K steps as well as at every epoch end (0: epoch ends only)",
            DefaultValueFactory = _ => 0,
        };
        checkpointEvery.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--checkpoint-every-steps must not be negative"); });
        var straggler = new Option<double>("--straggler-timeout")
        {
            Description = "Seconds (at least) before a unit still in flight is also given to an idle worker",
            DefaultValueFactory = _ => l.StragglerMinimum.TotalSeconds,
        }.Seconds();
        // Test-only: make an event (a join) happen during a run by construction rather than by timing.
        var hold = new Option<string?>("--hold-until-joins")
        {
            Description = "N@EPOCH:STEP: before that step, wait for N accepted joins in all",
            Hidden = true,
        };
        hold.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } h && !JoinGate.TryParse(h, out _)) r.AddError($"--hold-until-joins: '{h}' is not N@EPOCH:STEP");
        });
        var noTls = new Option<bool>("--no-tls")
        {
            Description = "Loopback only: plain TCP instead of the run's own TLS certificate (any local process can then reach the run)",
        };
        var tls = new TlsOptions();

        var command = new Command("train", "Train the seed model on MNIST across workers")
        {
            data, epochs, batch, micro, lr, momentum, weightDecay, optimizer, schedule, seed, limitTrain, limitTest, dropout, noAugment,
            sync, localSteps, replicas, evalChunk, output, layout,
            workers, inProcess, external, threads, host, port, publicHost, token, workerTimeout, straggler, logEvery, verbose,
            resume, checkpointEvery, hold, noTls, dataPort, noDataChannel,
        };
        Option[] fixedByCheckpoint =
        [
            epochs, batch, micro, lr, momentum, weightDecay, optimizer, schedule, seed, limitTrain, limitTest, dropout, noAugment,
            sync, localSteps, replicas, evalChunk, output, layout,
        ];
        tls.AddTo(command);
        command.Validators.Add(r =>
        {
            var b = r.GetValue(batch);
            var m = r.GetValue(micro);
            if (m > 0 && b % m != 0) r.AddError($"--batch-size {b} is not divisible by --micro-batch {m}");
            if (r.GetValue(inProcess) && r.GetValue(external)) r.AddError("--in-process and --external exclude each other");
            if (r.GetValue(noDataChannel) && r.GetValue(dataPort) is not null) r.AddError("--no-data-channel and --data-port exclude each other");
            var maxLocal = LocalWorkersPerCore * Environment.ProcessorCount;
            if (!r.GetValue(external) && r.GetValue(workers) > maxLocal)
                r.AddError($"--workers {r.GetValue(workers)}: at most {maxLocal} local or in-process workers on this machine "
                    + $"({LocalWorkersPerCore} per core); start more with --external");
            if (r.GetValue(sync) == SyncMode.Params && m > 0)
            {
                var replicaCount = r.GetValue(replicas) > 0 ? r.GetValue(replicas) : r.GetValue(workers);
                var images = (long)(b / Math.Max(1, replicaCount)) * r.GetValue(localSteps);
                if (images > MaxImagesPerUnit)
                    r.AddError($"--sync params: a replica round of --local-steps x --batch-size / replicas = {images} images "
                        + $"exceeds {MaxImagesPerUnit} ({ImagesPerUnitWhy})");
            }
            if (r.GetValue(resume) is null) return;
            foreach (var option in fixedByCheckpoint)
                if (r.GetResult(option) is { Implicit: false })
                    r.AddError($"{option.Name} cannot be given with --resume: a resumed run keeps the settings of its checkpoint");
        });

        command.SetAction(async (parse, cancel) =>
        {
            if (!tls.TryLoad(parse, Console.Error, out var clusterTls)) return ExitCodes.Usage;
            var settings = new TrainSettings
            {
                Data = parse.GetValue(data)!,
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batch),
                MicroBatch = parse.GetValue(micro),
                LearningRate = parse.GetValue(lr),
                Momentum = parse.GetValue(momentum),
                WeightDecay = parse.GetValue(weightDecay),
                Optimizer = parse.GetValue(optimizer)!,
                Schedule = parse.GetValue(schedule)!,
                Seed = parse.GetValue(seed),
                LimitTrain = parse.GetValue(limitTrain),
                LimitTest = parse.GetValue(limitTest),
                Dropout = parse.GetValue(dropout),
                AugmentDegrees = parse.GetValue(noAugment) ? 0 : d.AugmentDegrees,
                AugmentTranslate = parse.GetValue(noAugment) ? 0 : d.AugmentTranslate,
                Sync = parse.GetValue(sync),
                ChannelsLast = parse.GetValue(layout) == "channels-last",
                LocalSteps = parse.GetValue(localSteps),
                Replicas = parse.GetValue(replicas),
                EvalChunk = parse.GetValue(evalChunk),
            };
            var workerCount = parse.GetValue(workers);
            var mode = parse.GetValue(inProcess) ? WorkerMode.InProcess : parse.GetValue(external) ? WorkerMode.External : WorkerMode.Local;
            var launch = new LaunchSettings
            {
                Workers = workerCount,
                Mode = mode,
                ThreadsPerWorker = parse.GetValue(threads) ?? TorchRuntime.DefaultThreadsPerWorker(workerCount),
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port) ?? (mode == WorkerMode.External ? 4053 : 0),
                PublicHost = parse.GetValue(publicHost),
                DataPort = parse.GetValue(dataPort),
                DataChannel = !parse.GetValue(noDataChannel),
                Token = JoinToken.Resolve(parse.GetValue(token)),
                Tls = clusterTls,
                Out = parse.GetValue(output)!,
                LogEvery = parse.GetValue(logEvery),
                Verbose = parse.GetValue(verbose),
                WorkerTimeout = TimeSpan.FromSeconds(parse.GetValue(workerTimeout)),
                StragglerMinimum = TimeSpan.FromSeconds(parse.GetValue(straggler)),
                CheckpointEverySteps = parse.GetValue(checkpointEvery),
                NoTls = parse.GetValue(noTls),
                HoldUntilJoins = parse.GetValue(hold) is { } h && JoinGate.TryParse(h, out var gate) ? gate : null,
            };
            var resumeRequest = parse.GetValue(resume) is { } dir
                ? new ResumeRequest(dir, parse.GetResult(data) is { Implicit: false } ? parse.GetValue(data) : null)
                : null;
            return await TrainingHost.RunAsync(settings, launch, Console.Out, Console.Error, cancel, resumeRequest);
        });
        return command;
    }

    private static Option<int> Positive(Option<int> option)
    {
        option.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError($"{option.Name} must be at least 1"); });
        return option;
    }
}
