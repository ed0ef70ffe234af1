using System.Globalization;
using System.Text;

namespace DataParallel.Coordinator.Reporting;

/// <summary>The plain-text lines the coordinator prints: what a log file or CI shows.</summary>
public static class ConsoleLines
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Epoch(EpochMetrics m)
    {
        var line = new StringBuilder();
        line.Append(string.Create(C, $"Epoch: {m.Epoch:00} | m_mnist_accuracy: {100 * m.TrainAccuracy:F2}% | loss: {m.TrainLoss:F4}"));
        line.Append(string.Create(C, $" | test_accuracy: {100 * m.TestAccuracy:F2}% | test_loss: {m.TestLoss:F4}"));
        line.Append(string.Create(C, $" | {m.Seconds:F1} s | {m.ImagesPerSecond:N0} img/s | lr: {m.LearningRate:F4}"));
        line.Append(string.Create(C, $" | utilization: {100 * m.Utilization:F0}% | workers: {m.Workers}"));
        if (m.WorkerStats.Count > 0)
        {
            line.Append(" (");
            line.Append(string.Join(", ", m.WorkerStats.Select(w =>
                string.Create(C, $"{w.WorkerId}: {w.Units} x {w.MeanMilliseconds:F1} ms, round trip {w.MeanRoundTripMilliseconds:F1} ms") +
                (w.Failures > 0 ? $", {w.Failures} lost" : "") + (w.Straggled > 0 ? $", {w.Straggled} slow" : ""))));
            line.Append(')');
        }
        return line.ToString();
    }

    public static string Step(StepCompleted s) =>
        string.Create(C, $"  epoch {s.Epoch:00} step {s.Step + 1}/{s.StepsPerEpoch} | loss: {s.Loss:F4} "
            + $"| {s.EpochExamples / Math.Max(1e-9, s.EpochSeconds):N0} img/s | lr: {s.LearningRate:F4} | workers: {s.Alive}");

    public static string Testing(RunResult r) =>
        string.Create(C, $"""
            Testing
              epochs: {r.Epochs}
              test accuracy: {100 * r.TestAccuracy:F2}%
              test loss: {r.TestLoss:F4}
              train accuracy (last epoch): {100 * r.TrainAccuracy:F2}%
              time: {r.Seconds:F1} s
            Final parameters: sha256 {r.Sha256}
            """);
}
