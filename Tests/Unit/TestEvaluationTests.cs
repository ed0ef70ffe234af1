using DataParallel.Coordinator.Inference;
using DataParallel.Shared.Data;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class TestEvaluationTests
{
    private static float[] LogProbabilities(params double[][] probabilities) =>
        probabilities.SelectMany(row => row.Select(p => (float)Math.Log(p))).ToArray();

    // Three classes, five images: two right, three wrong.
    private static readonly float[] Outputs = LogProbabilities(
        [0.7, 0.2, 0.1],   // label 0, predicted 0
        [0.1, 0.8, 0.1],   // label 0, predicted 1 (0.8 sure)
        [0.2, 0.3, 0.5],   // label 2, predicted 2
        [0.6, 0.3, 0.1],   // label 2, predicted 0
        [0.1, 0.1, 0.8]);  // label 0, predicted 2
    private static readonly byte[] Labels = [0, 0, 2, 2, 0];

    [Fact]
    public void Counts_accuracy_loss_confusion_and_mistakes_from_log_probabilities()
    {
        var e = TestEvaluation.Of(Outputs, Labels, classes: 3);

        Assert.Equal((5, 2, 0.4), (e.Count, e.Correct, e.Accuracy));
        Assert.Equal(-(Math.Log(0.7) + Math.Log(0.1) + Math.Log(0.5) + Math.Log(0.1) + Math.Log(0.1)) / 5, e.Loss, 1e-6);
        Assert.Equal(new[,] { { 1, 1, 1 }, { 0, 0, 0 }, { 1, 0, 1 } }, e.Confusion);
        Assert.Equal(1.0 / 3, e.ClassAccuracy(0), 1e-12);
        Assert.True(double.IsNaN(e.ClassAccuracy(1)), "a class with no images has no accuracy");
        Assert.Equal(0.5, e.ClassAccuracy(2));
        Assert.Equal([(1, 0, 1), (3, 2, 0), (4, 0, 2)], e.Mistakes.Select(m => (m.Index, m.Label, m.Predicted)));
        Assert.Equal(0.8, e.Mistakes[0].Probability, 1e-6);
    }

    [Fact]
    public void The_table_has_a_row_per_true_class_with_its_count_and_accuracy()
    {
        var lines = TestEvaluation.Of(Outputs, Labels, classes: 3).Table().TrimEnd('\n').Split('\n');
        Assert.Equal("true \\ predicted", lines[0]);
        Assert.Equal("         0    1    2   images  accuracy", lines[1]);
        Assert.Equal("    0    1    1    1        3    33.33%", lines[2]);
        Assert.Equal("    1    0    0    0        0         -", lines[3]);
        Assert.Equal("    2    1    0    1        2    50.00%", lines[4]);
    }

    [Fact]
    public void Mismatched_lengths_and_unknown_labels_are_refused()
    {
        Assert.Throws<ArgumentException>(() => TestEvaluation.Of(Outputs, [0, 0, 2, 2], classes: 3));
        Assert.Throws<ArgumentException>(() => TestEvaluation.Of(Outputs, [0, 0, 2, 2, 3], classes: 3));
    }

    [Fact]
    public void Confusion_and_mistakes_render_as_pngs_sized_by_their_content()
    {
        var test = Repository.Test.Take(30);
        // Call every image a 7, with probability 0.9: every image that is not a 7 is a mistake.
        var outputs = Enumerable.Range(0, test.Count)
            .SelectMany(_ => Enumerable.Range(0, 10).Select(c => (float)Math.Log(c == 7 ? 0.9 : 0.1 / 9)))
            .ToArray();
        var e = TestEvaluation.Of(outputs, test.Labels);
        var sevens = test.Labels.Count(l => l == 7);
        Assert.Equal(test.Count - sevens, e.Mistakes.Count);

        PngImage.Decode(EvaluationPlots.Confusion(e)).AssertIsChart(EvaluationPlots.ConfusionWidth, EvaluationPlots.ConfusionHeight);
        var mistakes = PngImage.Decode(EvaluationPlots.Mistakes(e, test.Images));
        var rows = (e.Mistakes.Count + 9) / 10;
        Assert.Equal(840, mistakes.Width);
        Assert.Equal(rows * 106 + 50, mistakes.Height);
        Assert.True(mistakes.Ink > 0.1, $"only {mistakes.Ink:P1} drawn: where are the digits?");
        Assert.True(MnistDataset.ImageBytes * test.Count == test.Images.Length);
    }
}
