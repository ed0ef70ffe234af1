using System.Globalization;
using System.Security.Cryptography;
using DataParallel.Coordinator.Inference;
using DataParallel.Coordinator.Launch;
using DataParallel.Coordinator.Reporting;
using DataParallel.Coordinator.Training;
using DataParallel.Shared.Data;
using DataParallel.Shared.IO;
using DataParallel.Shared.Settings;
using TorchSharp.PyBridge;

namespace DataParallel.Coordinator.Export;

/// <summary>Where a model comes from, for its card: the run, its settings, how far it trained and how well it did.</summary>
/// <param name="Source">"the end of training" or the checkpoint file it was exported from.</param>
/// <param name="Epochs">Epochs completed; <paramref name="Step"/> more steps into the next one (0 at an epoch's end).</param>
/// <param name="TestAccuracy">Measured on these very parameters, or null (a checkpoint taken mid-epoch).</param>
/// <param name="Command">The arguments the run was started with, when known (secrets replaced).</param>
public sealed record ModelOrigin(
    string RunId, TrainSettings Settings, string Source, int Epochs, int Step, double? TestAccuracy, double? TestLoss,
    int TrainImages, int TestImages, int? Workers, int? ThreadsPerWorker, string? Deployment, string? Command);

/// <summary>One written model file.</summary>
public sealed record ModelFile(string Name, long Bytes, string Sha256);

/// <summary>
/// Writes what a run leaves for the rest of the ecosystem: model.safetensors and model.pt (the state dict under
/// PyTorch's names, for docs/seednet.py), model.onnx (inference graph) and model.card.md. Each file is written
/// atomically; the card, which lists the others' checksums, comes last.
/// </summary>
public static class ModelFiles
{
    public static IReadOnlyList<ModelFile> Write(string directory, TrainedModel model, ModelOrigin origin)
    {
        var written = new List<ModelFile>();
        void Save(string name, byte[] bytes)
        {
            AtomicFile.WriteAllBytes(Path.Combine(directory, name), bytes);
            written.Add(new ModelFile(name, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes))));
        }

        using (var net = model.CreateNet())
        {
            Save(TrainedModel.SafetensorsFile, Serialise(stream => net.save_safetensors(stream, leaveOpen: true)));
            Save(TrainedModel.PyTorchFile, Serialise(stream => net.save_py(stream, leaveOpen: true)));
        }
        var c = CultureInfo.InvariantCulture;
        var metadata = new Dictionary<string, string>
        {
            ["run_id"] = origin.RunId,
            ["parameters_sha256"] = model.Sha256,
            ["input"] = string.Create(c,
                $"N x 1 x 28 x 28 float32: pixels / 255, then (x - {MnistDataset.Mean}) / {MnistDataset.Std}; white digit on black"),
            ["output"] = "N x 10 log-probabilities of the digits 0-9",
        };
        if (origin.TestAccuracy is { } accuracy) metadata["test_accuracy"] = accuracy.ToString("R", c);
        Save(TrainedModel.OnnxFile, SeedNetOnnx.Build(model.Layout, model.Parameters, model.Buffers, metadata));

        var card = System.Text.Encoding.UTF8.GetBytes(ModelCard.Render(origin, model.Sha256, written));
        Save(TrainedModel.CardFile, card);
        return written;
    }

    /// <summary>
    /// Called once a run has ended well: the final parameters become model files in the run directory.
    /// False (with one error line) if they cannot be written; the run's other files stay as they are.
    /// </summary>
    public static bool WriteAtEndOfRun(TrainingRun run, LaunchSettings launch, RunResult result, TextWriter output, TextWriter error)
    {
        var origin = new ModelOrigin(result.RunId, run.Settings, "the end of training", result.Epochs, 0, result.TestAccuracy, result.TestLoss,
            run.Train.Count, run.Test.Count, launch.Workers, launch.ThreadsPerWorker, DescribeDeployment(launch),
            Invocation(Environment.GetCommandLineArgs().Skip(1)));
        try
        {
            var model = new TrainedModel(run.Layout, run.Parameters, run.Buffers, "the end of training");
            var files = Write(launch.Out, model, origin);
            output.WriteLine($"Model: {string.Join(", ", files.Select(f => f.Name))} in {launch.Out}");
            output.Flush();
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {FileIoException.Describe(e)}");
            return false;
        }
    }

    public static string DescribeDeployment(LaunchSettings l) =>
        DescribeDeployment(l.Workers, l.Mode.ToString().ToLowerInvariant(), l.ThreadsPerWorker);

    /// <param name="mode">As config.json records it: local, inprocess or external.</param>
    public static string DescribeDeployment(int workers, string? mode, int threads)
    {
        var s = workers == 1 ? "" : "s";
        var kind = mode switch
        {
            "local" => $"local worker process{(workers == 1 ? "" : "es")}",
            "inprocess" => $"in-process worker{s}",
            _ => $"{mode} worker{s}",
        };
        return $"{workers} {kind} x {threads} thread{(threads == 1 ? "" : "s")}";
    }

    /// <summary>The command line as given, shell-quoted, with the join token and TLS password replaced.</summary>
    public static string Invocation(IEnumerable<string> arguments)
    {
        var args = arguments.ToArray();
        for (var i = 0; i < args.Length; i++)
        {
            foreach (var secret in new[] { "--token", "--tls-password" })
            {
                if (args[i] == secret && i + 1 < args.Length) args[i + 1] = "REDACTED";
                else if (args[i].StartsWith(secret + "=", StringComparison.Ordinal)) args[i] = secret + "=REDACTED";
            }
        }
        return "dotnet run -c Release --project Coordinator -- " + string.Join(' ', args.Select(Quote));
    }

    /// <summary>A train command that computes the same parameters (with the same build on the same kind of CPU).</summary>
    public static string ReproducingCommand(TrainSettings s, int? workers, int? threadsPerWorker)
    {
        var c = CultureInfo.InvariantCulture;
        var args = new List<string>
        {
            "train", "--epochs", s.Epochs.ToString(c), "--batch-size", s.BatchSize.ToString(c), "--micro-batch", s.MicroBatch.ToString(c),
            "--optimizer", s.Optimizer, "--schedule", s.Schedule, "--lr", s.LearningRate.ToString("R", c),
        };
        if (s.Schedule != "onecycle") args.AddRange(["--momentum", s.Momentum.ToString("R", c)]);
        if (s.WeightDecay != 0) args.AddRange(["--weight-decay", s.WeightDecay.ToString("R", c)]);
        args.AddRange(["--seed", s.Seed.ToString(c), "--dropout", s.Dropout.ToString("R", c)]);
        if (s.AugmentDegrees == 0 && s.AugmentTranslate == 0) args.Add("--no-augment");
        if (s.LimitTrain is { } train) args.AddRange(["--limit-train", train.ToString(c)]);
        if (s.LimitTest is { } test) args.AddRange(["--limit-test", test.ToString(c)]);
        if (s.Sync == SyncMode.Params)
        {
            args.AddRange(["--sync", "params", "--local-steps", s.LocalSteps.ToString(c)]);
            if (s.Replicas > 0) args.AddRange(["--replicas", s.Replicas.ToString(c)]);
        }
        if (workers is { } w) args.AddRange(["--workers", w.ToString(c)]);
        if (threadsPerWorker is { } t) args.AddRange(["--threads-per-worker", t.ToString(c)]);
        return "dotnet run -c Release --project Coordinator -- " + string.Join(' ', args.Select(Quote));
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(ch => char.IsAsciiLetterOrDigit(ch) || "-_./=:,+@%".Contains(ch)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";

    private static byte[] Serialise(Action<Stream> write)
    {
        using var memory = new MemoryStream();
        write(memory);
        return memory.ToArray();
    }
}
