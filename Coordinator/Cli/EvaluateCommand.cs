using DataParallel.Shared.Settings;
using System.CommandLine;
using System.Globalization;
using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Data;
using DataParallel.Shared.IO;
using DataParallel.Shared.Native;

namespace DataParallel.Coordinator.Cli;

/// <summary>`evaluate MODEL|RUN_DIR`: test accuracy and loss, per-class accuracy, the confusion matrix, Confusion.png and Mistakes.png.</summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var model = CoordinatorCommands.ModelArgument();
        var data = CoordinatorCommands.DataOption();
        var limit = new Option<int?>("--limit") { Description = "Evaluate only the first N test images (as train --limit-test N)" };
        limit.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--limit must be at least 1"); });
        var output = new Option<string?>("--out")
        {
            Description = $"Directory for {EvaluationPlots.ConfusionFile} and {EvaluationPlots.MistakesFile} "
                + "(default: the run directory, or the model file's)",
        };
        var command = new Command("evaluate",
            "Evaluate a trained model on the MNIST test set: accuracy, loss, per-class accuracy and the confusion matrix; "
            + $"writes {EvaluationPlots.ConfusionFile} and {EvaluationPlots.MistakesFile}")
        {
            model, data, limit, output,
        };
        command.SetAction(parse =>
            Run(parse.GetValue(model)!, parse.GetValue(data)!, parse.GetValue(limit), parse.GetValue(output), Console.Out, Console.Error));
        return command;
    }

    public static int Run(string modelPath, string dataDirectory, int? limit, string? outDirectory, TextWriter output, TextWriter error)
    {
        TorchRuntime.Configure(TorchRuntime.DefaultThreadsPerWorker(1));
        TrainedModel model;
        try
        {
            model = TrainedModel.Open(modelPath, error.WriteLine);
        }
        catch (ModelFileException e)
        {
            return Fail(error, ExitCodes.Usage, e.Message);
        }

        MnistDataset test;
        try
        {
            MnistFetcher.EnsurePresent(dataDirectory, output.WriteLine);
            test = MnistDataset.Load(dataDirectory, MnistSplit.Test).Take(limit);
        }
        catch (DataFileException e)
        {
            return Fail(error, ExitCodes.Failed, e.Message);
        }

        var evaluation = TestEvaluation.Of(model.LogProbabilities(test.Images), test.Labels);
        var c = CultureInfo.InvariantCulture;
        output.WriteLine($"SeedNet from {model.Source} (parameters sha256 {model.Sha256})");
        var first = test.Count < 10_000 ? " (the first ones)" : "";
        output.WriteLine(string.Create(c, $"  test images: {evaluation.Count:N0}{first} from {dataDirectory}"));
        output.WriteLine(string.Create(c,
            $"  test accuracy: {evaluation.Accuracy * 100:F2}% ({evaluation.Correct:N0} right, {evaluation.Mistakes.Count:N0} wrong)"));
        output.WriteLine(string.Create(c, $"  test loss: {evaluation.Loss:F4}"));
        output.WriteLine();
        output.Write(evaluation.Table());

        var target = outDirectory ?? (Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
        try
        {
            var confusion = EvaluationPlots.Confusion(evaluation);
            var mistakes = EvaluationPlots.Mistakes(evaluation, test.Images);
            AtomicFile.WriteAllBytes(Path.Combine(target, EvaluationPlots.ConfusionFile), confusion);
            AtomicFile.WriteAllBytes(Path.Combine(target, EvaluationPlots.MistakesFile), mistakes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(error, ExitCodes.Failed,
                $"cannot write {EvaluationPlots.ConfusionFile} and {EvaluationPlots.MistakesFile} in {target}: {e.Message}");
        }
        output.WriteLine();
        output.WriteLine($"wrote {EvaluationPlots.ConfusionFile} and {EvaluationPlots.MistakesFile} in {target}");
        return ExitCodes.Ok;
    }

    private static int Fail(TextWriter error, int code, string message)
    {
        error.WriteLine($"error: {message}");
        return code;
    }
}
