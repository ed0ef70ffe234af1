using DataParallel.Shared.Settings;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using DataParallel.Shared.Native;

namespace DataParallel.Coordinator.Cli;

/// <summary>`predict MODEL IMAGE...`: the digit in each picture, with the probability of every digit.</summary>
public static class PredictCommand
{
    public static Command Create()
    {
        var model = CoordinatorCommands.ModelArgument();
        var images = new Argument<string[]>("IMAGE")
        {
            Description = "PNG or JPEG pictures of one digit each, any size, dark on light or light on dark",
            Arity = ArgumentArity.OneOrMore,
        };
        var json = new Option<bool>("--json")
        {
            Description = "One JSON document on stdout: the model's sha256 and, per image, the digit and the ten probabilities",
        };
        var command = new Command("predict",
            "Read the digit in each image: converted as MNIST was made "
            + "(grayscale, white on black, fitted to 20x20, centred by centre of mass in 28x28), then classified")
        {
            model, images, json,
        };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(images)!, parse.GetValue(json), Console.Out, Console.Error));
        return command;
    }

    public sealed record Prediction(string Image, int Digit, double[] Probabilities);

    /// <summary>Every image is read before any is classified: one bad file stops the command before it prints a result.</summary>
    public static int Run(string modelPath, IReadOnlyList<string> imagePaths, bool json, TextWriter output, TextWriter error)
    {
        TorchRuntime.Configure(TorchRuntime.DefaultThreadsPerWorker(1));
        TrainedModel model;
        var pixels = new byte[imagePaths.Count * MnistDataset.ImageBytes];
        try
        {
            model = TrainedModel.Open(modelPath, error.WriteLine);
            for (var i = 0; i < imagePaths.Count; i++)
                DigitImage.Read(imagePaths[i]).CopyTo(pixels.AsSpan(i * MnistDataset.ImageBytes));
        }
        catch (Exception e) when (e is ModelFileException or DigitImageException)
        {
            error.WriteLine($"error: {e.Message}");
            return ExitCodes.Usage;
        }

        var logProbabilities = model.LogProbabilities(pixels);
        var predictions = imagePaths.Select((path, i) =>
        {
            var p = logProbabilities.AsSpan(i * SeedNet.Classes, SeedNet.Classes).ToArray().Select(v => Math.Exp(v)).ToArray();
            return new Prediction(path, Array.IndexOf(p, p.Max()), p);
        }).ToList();

        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                model = model.Source,
                sha256 = model.Sha256,
                predictions = predictions.Select(p => new
                {
                    image = p.Image, digit = p.Digit, probabilities = p.Probabilities.Select(v => Math.Round(v, 6)),
                }),
            }));
            return ExitCodes.Ok;
        }
        var c = CultureInfo.InvariantCulture;
        foreach (var p in predictions)
        {
            output.WriteLine(string.Create(c, $"{p.Image}: {p.Digit} ({p.Probabilities[p.Digit] * 100:F2}%)"));
            output.WriteLine("  " + string.Join("  ", p.Probabilities.Select((v, d) => string.Create(c, $"{d}: {v * 100:F2}%"))));
        }
        return ExitCodes.Ok;
    }
}
