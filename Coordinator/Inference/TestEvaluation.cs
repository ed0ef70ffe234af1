using System.Globalization;
using System.Text;

namespace DataParallel.Coordinator.Inference;

/// <summary>A test image the model got wrong, and how sure it was of its wrong answer.</summary>
public sealed record Mistake(int Index, int Label, int Predicted, double Probability);

/// <summary>
/// A model's results on a labelled set: accuracy, mean loss, per-class accuracy, the confusion matrix and the
/// misclassified images. Computed from log-probabilities and labels alone.
/// </summary>
public sealed class TestEvaluation
{
    private TestEvaluation(int classes, int count, int correct, double loss, int[,] confusion, IReadOnlyList<Mistake> mistakes)
    {
        Classes = classes;
        Count = count;
        Correct = correct;
        Loss = loss;
        Confusion = confusion;
        Mistakes = mistakes;
    }

    public int Classes { get; }
    public int Count { get; }
    public int Correct { get; }
    public double Accuracy => Count == 0 ? 0 : (double)Correct / Count;
    /// <summary>Mean negative log-likelihood, the training loss.</summary>
    public double Loss { get; }
    /// <summary>[true class, predicted class] counts.</summary>
    public int[,] Confusion { get; }
    /// <summary>In test-set order.</summary>
    public IReadOnlyList<Mistake> Mistakes { get; }

    public int ClassCount(int label) => Enumerable.Range(0, Classes).Sum(p => Confusion[label, p]);

    /// <summary>Share of the images of <paramref name="label"/> classified as such; NaN when the set has none.</summary>
    public double ClassAccuracy(int label) => ClassCount(label) is var n and > 0 ? (double)Confusion[label, label] / n : double.NaN;

    /// <param name="logProbabilities">Row by row, <paramref name="classes"/> values per image.</param>
    public static TestEvaluation Of(ReadOnlySpan<float> logProbabilities, ReadOnlySpan<byte> labels, int classes = 10)
    {
        if (logProbabilities.Length != labels.Length * classes)
            throw new ArgumentException($"{logProbabilities.Length} log-probabilities for {labels.Length} labels of {classes} classes");
        var confusion = new int[classes, classes];
        var mistakes = new List<Mistake>();
        double lossSum = 0;
        var correct = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            var row = logProbabilities.Slice(i * classes, classes);
            int label = labels[i];
            if (label >= classes) throw new ArgumentException($"label {label} of image {i} is not one of {classes} classes");
            var predicted = 0;
            for (var c = 1; c < classes; c++) if (row[c] > row[predicted]) predicted = c;
            lossSum -= row[label];
            confusion[label, predicted]++;
            if (predicted == label) correct++;
            else mistakes.Add(new Mistake(i, label, predicted, Math.Exp(row[predicted])));
        }
        return new TestEvaluation(classes, labels.Length, correct, labels.Length == 0 ? 0 : lossSum / labels.Length, confusion, mistakes);
    }

    /// <summary>The confusion matrix as text, one row per true class, with each class's count and accuracy.</summary>
    public string Table()
    {
        var c = CultureInfo.InvariantCulture;
        var width = Math.Max(5, Count.ToString(c).Length + 1);
        var text = new StringBuilder("true \\ predicted");
        text.Append('\n').Append("     ");
        for (var p = 0; p < Classes; p++) text.Append(p.ToString(c).PadLeft(width));
        text.Append("   images  accuracy\n");
        for (var t = 0; t < Classes; t++)
        {
            text.Append(t.ToString(c).PadLeft(5));
            for (var p = 0; p < Classes; p++) text.Append(Confusion[t, p].ToString(c).PadLeft(width));
            var accuracy = ClassAccuracy(t);
            text.Append(ClassCount(t).ToString(c).PadLeft(9))
                .Append((double.IsNaN(accuracy) ? "-" : string.Create(c, $"{accuracy * 100:F2}%")).PadLeft(10)).Append('\n');
        }
        return text.ToString();
    }
}
