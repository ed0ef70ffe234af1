using DataParallel.Shared.Settings;
using System.CommandLine;
using System.Text.Json;
using DataParallel.Coordinator.Export;
using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Native;

namespace DataParallel.Coordinator.Cli;

/// <summary>`export RUN_DIR`: the model files of a run, from its newest valid checkpoint (a run that was stopped, or an older one).</summary>
public static class ExportCommand
{
    private const int MnistTrainImages = 60_000;
    private const int MnistTestImages = 10_000;

    public static Command Create()
    {
        var directory = new Argument<string>("RUN_DIR") { Description = "Run directory (the --out of a train run)" };
        var output = new Option<string?>("--out") { Description = "Directory for the model files (default: RUN_DIR)" };
        var command = new Command("export",
            $"Write {TrainedModel.SafetensorsFile}, {TrainedModel.PyTorchFile}, {TrainedModel.OnnxFile} and {TrainedModel.CardFile} " +
            "from the newest valid checkpoint in RUN_DIR (train writes them at the end of every run by itself)")
        {
            directory, output,
        };
        command.SetAction(parse => Run(parse.GetValue(directory)!, parse.GetValue(output), Console.Out, Console.Error));
        return command;
    }

    public static int Run(string directory, string? outDirectory, TextWriter output, TextWriter error)
    {
        if (!Directory.Exists(directory))
            return Fail(error, ExitCodes.Usage, $"{directory}: no such run directory");
        TorchRuntime.Configure(TorchRuntime.DefaultThreadsPerWorker(1));
        TrainedModel model;
        Training.Checkpoint checkpoint;
        string file;
        try
        {
            (model, checkpoint, file) = TrainedModel.NewestCheckpoint(directory, error.WriteLine);
        }
        catch (ModelFileException e)
        {
            return Fail(error, ExitCodes.Usage, e.Message);
        }

        // The checkpoint after an epoch's evaluation sits at step 0 of the next epoch: its accuracy is that evaluation's.
        var epochs = checkpoint.Epoch - 1;
        var measured = checkpoint.Step == 0 && checkpoint.History.Count > 0 && checkpoint.History[^1].Epoch == epochs ? checkpoint.History[^1] : null;
        var (workers, threads, deployment) = ReadLaunch(directory);
        var s = checkpoint.Settings;
        var origin = new ModelOrigin(checkpoint.RunId, s, $"checkpoint `{Path.GetFileName(file)}`", epochs, checkpoint.Step,
            measured?.TestAccuracy, measured?.TestLoss,
            Math.Min(s.LimitTrain ?? MnistTrainImages, MnistTrainImages), Math.Min(s.LimitTest ?? MnistTestImages, MnistTestImages),
            workers, threads, deployment, Command: null);
        var target = outDirectory ?? directory;
        try
        {
            var files = ModelFiles.Write(target, model, origin);
            var steps = checkpoint.Step > 0 ? $" + {checkpoint.Step} steps" : "";
            output.WriteLine($"wrote {string.Join(", ", files.Select(f => f.Name))} in {target} "
                + $"from {Path.GetFileName(file)} (epoch {epochs}{steps}, sha256 {model.Sha256})");
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(error, ExitCodes.Failed, Shared.IO.FileIoException.Describe(e));
        }
    }

    /// <summary>
    /// Workers and threads from the run's config.json; the checkpoint does not hold them
    /// (they do not change what is computed, except threads bit-wise).
    /// </summary>
    private static (int? Workers, int? Threads, string? Deployment) ReadLaunch(string directory)
    {
        try
        {
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "config.json")));
            var launch = config.RootElement.GetProperty("launch");
            var workers = launch.GetProperty("workers").GetInt32();
            var threads = launch.GetProperty("threads_per_worker").GetInt32();
            var mode = launch.GetProperty("mode").GetString();
            return (workers, threads, ModelFiles.DescribeDeployment(workers, mode, threads));
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return (null, null, null);
        }
    }

    private static int Fail(TextWriter error, int code, string message)
    {
        error.WriteLine($"error: {message}");
        return code;
    }
}
