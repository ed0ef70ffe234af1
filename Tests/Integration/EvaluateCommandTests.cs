using System.Globalization;
using System.Text.RegularExpressions;
using DataParallel.Coordinator.Inference;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>`evaluate` on what a real run left: the run's own accuracy, a consistent confusion matrix, the two PNGs, and clear errors.</summary>
[Collection(ProcessCollection.Name)]
public sealed class EvaluateCommandTests
{
    private static (int Code, string Stdout, string Stderr) Evaluate(params string[] args) =>
        ProgramProcess.Run("Coordinator", ["evaluate", .. args, "--data", Repository.MnistDirectory], TimeSpan.FromMinutes(2));

    [Fact]
    public void Evaluating_a_run_gives_its_accuracy_a_consistent_confusion_matrix_and_the_two_pngs()
    {
        var target = Repository.NewTempDirectory("evaluate");
        var (code, stdout, stderr) = Evaluate(TrainedRun.Value.RunDirectory, "--limit", "1000", "--out", target);
        Assert.True(code == 0, stderr + stdout);

        var accuracy = TrainedRun.Value.Result.GetProperty("test_accuracy").GetDouble();
        Assert.Contains($"SeedNet from {TrainedRun.PathOf(TrainedModel.SafetensorsFile)} (parameters sha256 {TrainedRun.Value.Sha256})", stdout);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture,
            $"  test accuracy: {accuracy * 100:F2}% ({TrainedRun.Correct:N0} right, {1000 - TrainedRun.Correct} wrong)"), stdout);
        var loss = double.Parse(Regex.Match(stdout, @"test loss: (\d+\.\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(TrainedRun.Value.Result.GetProperty("test_loss").GetDouble(), loss, 1e-3);

        // Rows: true digit, ten counts, images, accuracy. The diagonal is what was right; the rows add up to 1,000.
        var rows = Regex.Matches(stdout, @"(?m)^ {4}(\d)((?: +\d+){10}) +(\d+) +(\d+\.\d\d)%$")
            .Select(m => m.Groups[2].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())
            .ToList();
        Assert.Equal(10, rows.Count);
        Assert.Equal(1000, rows.Sum(r => r.Sum()));
        Assert.Equal(TrainedRun.Correct, Enumerable.Range(0, 10).Sum(d => rows[d][d]));
        Assert.Equal(Repository.Test.Labels.Take(1000).Count(l => l == 3), rows[3].Sum());

        PngImage.Read(Path.Combine(target, EvaluationPlots.ConfusionFile))
            .AssertIsChart(EvaluationPlots.ConfusionWidth, EvaluationPlots.ConfusionHeight);
        var mistakes = PngImage.Read(Path.Combine(target, EvaluationPlots.MistakesFile));
        Assert.Equal(((1000 - TrainedRun.Correct + 9) / 10) * 106 + 50, mistakes.Height);
        Assert.Empty(Directory.GetFiles(target, "*.tmp"));
    }

    [Fact]
    public void The_state_dict_and_the_checkpoint_evaluate_alike()
    {
        var target = Repository.NewTempDirectory("evaluate-pt");
        var fromPt = Evaluate(TrainedRun.PathOf(TrainedModel.PyTorchFile), "--limit", "1000", "--out", target);
        var checkpoint = Directory.GetFiles(TrainedRun.PathOf("checkpoints"), "*.ckpt").Max()!;
        var fromCheckpoint = Evaluate(checkpoint, "--limit", "1000", "--out", target);
        Assert.True(fromPt.Code == 0 && fromCheckpoint.Code == 0, fromPt.Stderr + fromCheckpoint.Stderr);
        string Body(string stdout) => stdout[stdout.IndexOf("  test images", StringComparison.Ordinal)..];
        Assert.Equal(Body(fromPt.Stdout), Body(fromCheckpoint.Stdout));
        Assert.Contains($"parameters sha256 {TrainedRun.Value.Sha256}", fromCheckpoint.Stdout);
    }

    [Fact]
    public void A_missing_or_foreign_model_exits_1_with_one_line_naming_it()
    {
        var dir = Repository.NewTempDirectory("evaluate-bad");
        var missing = Path.Combine(dir, "model.pt");
        var (code, stdout, stderr) = Evaluate(missing);
        Assert.Equal((1, "", $"error: {missing}: no such model file or run directory"), (code, stdout, stderr.Trim()));

        var foreign = Path.Combine(dir, "weights.safetensors");
        File.WriteAllText(foreign, "not a safetensors file at all");
        (code, stdout, stderr) = Evaluate(foreign);
        Assert.Equal(1, code);
        Assert.Matches($"^error: {Regex.Escape(foreign)}: not a SeedNet state dict \\(.+\\)$", stderr.Trim());
        Assert.Equal("", stdout);

        var onnx = TrainedRun.PathOf(TrainedModel.OnnxFile);
        (code, _, stderr) = Evaluate(onnx);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {onnx}: an ONNX model runs in ONNX Runtime", stderr.Trim());
        Assert.DoesNotContain('\n', stderr.Trim());

        (code, _, stderr) = Evaluate(dir);
        Assert.Equal((1, $"error: {dir}: neither model.safetensors nor a checkpoint in this directory"), (code, stderr.Trim()));
        Assert.Equal(["weights.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("export", "RUN_DIR")]
    [InlineData("evaluate", "MODEL")]
    [InlineData("predict", "MODEL")]
    public void The_model_commands_document_their_arguments_and_exit_codes(string command, string argument)
    {
        var (code, stdout, _) = ProgramProcess.Run("Coordinator", [command, "--help"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, code);
        Assert.Contains($"<{argument}>", stdout);
        Assert.Contains("Exit codes: 0 ok, 1 invalid input, 2 failure", stdout);
    }
}
