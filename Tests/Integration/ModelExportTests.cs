using System.Diagnostics;
using System.Text.Json;
using DataParallel.Coordinator.Export;
using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Model;
using DataParallel.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DataParallel.Tests.Integration;

/// <summary>The model files a run leaves, read by the real PyTorch and the real ONNX Runtime.</summary>
[Collection(ProcessCollection.Name)]
public sealed class ModelExportTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task A_finished_run_leaves_a_state_dict_that_PyTorch_loads_with_the_runs_accuracy_and_sha256()
    {
        var run = TrainedRun.Value;
        Assert.Contains($"Model: {TrainedModel.SafetensorsFile}, {TrainedModel.PyTorchFile}, {TrainedModel.OnnxFile}, {TrainedModel.CardFile} "
            + $"in {run.RunDirectory}", run.Stdout);

        var script = Path.Combine(Repository.Root, "Tests", "Integration", "pytorch_check.py");
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, Path.Combine(Repository.Root, "docs"),
                     TrainedRun.PathOf(TrainedModel.PyTorchFile), TrainedRun.PathOf(TrainedModel.SafetensorsFile),
                     Repository.MnistDirectory, TrainedRun.TestImages.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        using var python = Process.Start(start)!;
        var stdout = python.StandardOutput.ReadToEndAsync();
        var stderr = await python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();
        Assert.True(python.ExitCode == 0, $"{Python} failed (CI installs Debian's python3-torch):\n{stderr}");
        var result = JsonDocument.Parse(await stdout).RootElement;

        Assert.Equal(TrainedRun.TestImages, result.GetProperty("count").GetInt32());
        Assert.InRange(result.GetProperty("correct").GetInt32(), TrainedRun.Correct - 1, TrainedRun.Correct + 1);
        Assert.Equal(run.Result.GetProperty("test_loss").GetDouble(), result.GetProperty("loss").GetDouble(), 1e-4);
        // PyTorch's own state_dict, hashed as the trainer hashes its parameters: the very same values, in the same order.
        Assert.Equal(run.Sha256, result.GetProperty("sha256").GetString());
        Assert.True(result.GetProperty("safetensors_equal").GetBoolean(), "model.safetensors holds other values than model.pt");
    }

    [Fact]
    public void The_ONNX_graph_gives_TorchSharps_log_probabilities_and_the_runs_accuracy_in_ONNX_Runtime()
    {
        var test = Repository.Test.Take(TrainedRun.TestImages);
        var torchSharp = TrainedModel.Open(TrainedRun.PathOf(TrainedModel.SafetensorsFile)).LogProbabilities(test.Images);

        using var session = new InferenceSession(TrainedRun.PathOf(TrainedModel.OnnxFile));
        Assert.Equal([-1, 1, 28, 28], session.InputMetadata[SeedNetOnnx.InputName].Dimensions);
        Assert.Equal(TrainedRun.Value.Sha256, session.ModelMetadata.CustomMetadataMap["parameters_sha256"]);
        var input = new DenseTensor<float>(TrainedModel.NormalisedPixels(test.Images), [test.Count, 1, 28, 28]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(SeedNetOnnx.InputName, input)]);
        var onnx = results.Single(r => r.Name == SeedNetOnnx.OutputName).AsTensor<float>();
        Assert.Equal([test.Count, SeedNet.Classes], onnx.Dimensions.ToArray());
        var values = onnx.ToArray();

        var worst = Enumerable.Range(0, values.Length).Max(i => Math.Abs(values[i] - torchSharp[i]));
        Assert.True(worst <= 1e-5, $"ONNX Runtime and TorchSharp differ by up to {worst:G3}");
        var correct = Enumerable.Range(0, test.Count).Count(n => ArgMax(values.AsSpan(n * 10, 10)) == test.Labels[n]);
        Assert.Equal(TrainedRun.Correct, correct);
    }

    [Fact]
    public void The_model_card_gives_accuracy_checksums_command_and_three_loaders()
    {
        var card = File.ReadAllText(TrainedRun.PathOf(TrainedModel.CardFile));
        var accuracy = TrainedRun.Value.Result.GetProperty("test_accuracy").GetDouble();
        Assert.Contains($"| test accuracy | **{accuracy * 100:F2}%** on the first 1,000 MNIST test images", card);
        Assert.Contains($"`{TrainedRun.Value.Sha256}`", card);
        foreach (var name in new[] { TrainedModel.SafetensorsFile, TrainedModel.PyTorchFile, TrainedModel.OnnxFile })
        {
            var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(TrainedRun.PathOf(name))));
            Assert.Contains($"| `{name}` | ", card);
            Assert.Contains($"`{sha}`", card);
        }
        Assert.Contains("-- train --data ", card);
        Assert.Contains("--epochs 2 --batch-size 128 --micro-batch 64 --optimizer nesterov --schedule onecycle --lr 0.1 --seed 1 --dropout 0.1 "
            + "--limit-train 6000 --limit-test 1000 --workers 1 --threads-per-worker 1", card);
        Assert.Contains("model.load_state_dict(torch.load(\"model.pt\"))", card);
        Assert.Contains("new InferenceSession(\"model.onnx\")", card);
        Assert.Contains("model.load_safetensors(\"model.safetensors\")", card);
    }

    [Fact]
    public void The_run_directory_holds_TensorBoard_events_of_every_step_and_epoch()
    {
        var file = Assert.Single(Directory.GetFiles(TrainedRun.Value.RunDirectory, Coordinator.Reporting.TensorBoardLog.FilePrefix + "*"));
        var scalars = EventFile.Scalars(EventFile.Read(file));
        var steps = 2 * ((6000 + 127) / 128);
        Assert.Equal(Enumerable.Range(1, steps).Select(s => (long)s), scalars.Where(s => s.Tag == "train/loss").Select(s => s.Step));
        Assert.Equal(steps, scalars.Count(s => s.Tag == "train/learning_rate"));
        Assert.All(scalars.Where(s => s.Tag == "train/loss"), s => Assert.True(float.IsFinite(s.Value) && s.Value > 0));

        var metrics = Coordinator.Reporting.MetricsFiles.ReadMetricsCsv(TrainedRun.PathOf(Coordinator.Reporting.RunFiles.MetricsCsv));
        Assert.Equal(metrics.Select(m => ((long)m.Epoch, (float)m.TestAccuracy)),
            scalars.Where(s => s.Tag == "epoch/test_accuracy").Select(s => (s.Step, s.Value)));
        Assert.Equal(metrics.Select(m => (float)m.TrainLoss), scalars.Where(s => s.Tag == "epoch/train_loss").Select(s => s.Value),
            (a, b) => Math.Abs(a - b) <= 1e-4f * Math.Max(1, Math.Abs(a)));
        Assert.Equal([1L, 2L], scalars.Where(s => s.Tag == "workers/in-process-1/compute_ms").Select(s => s.Step));
        Assert.All(scalars.Where(s => s.Tag == "workers/in-process-1/compute_ms"), s => Assert.True(s.Value > 0));
        var times = scalars.Select(s => s.WallTime).ToList();
        Assert.True(times.Zip(times.Skip(1)).All(p => p.Second >= p.First), "wall times go backwards");
    }

    [Fact]
    public void Export_writes_the_same_model_again_from_the_newest_checkpoint()
    {
        var target = Repository.NewTempDirectory("export");
        var (code, stdout, stderr) = ProgramProcess.Run("Coordinator", ["export", TrainedRun.Value.RunDirectory, "--out", target],
            TimeSpan.FromMinutes(1));
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains($"from checkpoint-e003-s000000.ckpt (epoch 2, sha256 {TrainedRun.Value.Sha256})", stdout);
        foreach (var name in new[] { TrainedModel.SafetensorsFile, TrainedModel.OnnxFile })
            Assert.Equal(File.ReadAllBytes(TrainedRun.PathOf(name)), File.ReadAllBytes(Path.Combine(target, name)));
        var reloaded = TrainedModel.Open(Path.Combine(target, TrainedModel.PyTorchFile));
        Assert.Equal(TrainedRun.Value.Sha256, reloaded.Sha256);
        var card = File.ReadAllText(Path.Combine(target, TrainedModel.CardFile));
        Assert.Contains("| taken from | checkpoint `checkpoint-e003-s000000.ckpt` |", card);
        Assert.Contains($"{TrainedRun.Value.Result.GetProperty("test_accuracy").GetDouble() * 100:F2}%", card);
        Assert.Contains("Workers: 1 in-process worker x 1 thread.", card);
    }

    [Fact]
    public void Export_without_a_checkpoint_exits_1_with_one_line_and_writes_nothing()
    {
        var empty = Repository.NewTempDirectory("export-empty");
        var (code, stdout, stderr) = ProgramProcess.Run("Coordinator", ["export", empty], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Equal($"error: {empty}: no checkpoint in {Path.Combine(empty, "checkpoints")}", stderr.Trim());
        Assert.Equal("", stdout);
        Assert.Empty(Directory.GetFileSystemEntries(empty));

        var missing = Path.Combine(empty, "nothing-here");
        (code, _, stderr) = ProgramProcess.Run("Coordinator", ["export", missing], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Equal($"error: {missing}: no such run directory", stderr.Trim());
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
