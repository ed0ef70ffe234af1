using System.Globalization;

namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// What the progress bar shows: the current epoch's steps, running loss, speed, time left and the workers alive.
/// Kept apart from the terminal so it can be tested without one.
/// </summary>
public sealed record EpochProgress
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public int Epochs { get; init; }
    public int Epoch { get; init; }
    /// <summary>Steps done in this epoch.</summary>
    public int Step { get; init; }
    public int StepsPerEpoch { get; init; }
    public double LossSum { get; init; }
    public int Examples { get; init; }
    public double ImagesPerSecond { get; init; }
    public TimeSpan Remaining { get; init; }
    public int Alive { get; init; }
    public int Expected { get; init; }

    public static EpochProgress Start(int epochs) => new() { Epochs = epochs };

    /// <summary>Whether a step has been seen: before that there is nothing to draw a bar of.</summary>
    public bool Started => StepsPerEpoch > 0;

    /// <summary>Mean training loss per image over the epoch so far.</summary>
    public double RunningLoss => Examples == 0 ? double.NaN : LossSum / Examples;

    public bool Evaluating => Started && Step >= StepsPerEpoch;

    public EpochProgress After(StepCompleted s)
    {
        var sameEpoch = s.Epoch == Epoch;
        var done = s.Step + 1;
        return this with
        {
            Epoch = s.Epoch,
            Step = done,
            StepsPerEpoch = s.StepsPerEpoch,
            LossSum = (sameEpoch ? LossSum : 0) + s.Loss * s.Examples,
            Examples = (sameEpoch ? Examples : 0) + s.Examples,
            ImagesPerSecond = s.EpochExamples / Math.Max(1e-9, s.EpochSeconds),
            // The steps left at the epoch's pace so far; evaluation on the test set comes on top.
            Remaining = TimeSpan.FromSeconds(s.EpochSeconds / done * Math.Max(0, s.StepsPerEpoch - done)),
            Alive = s.Alive,
        };
    }

    public EpochProgress WithWorkers(int alive, int expected) => this with { Alive = alive, Expected = expected };

    public string Title => Epochs > 0 ? string.Create(C, $"epoch {Epoch:00}/{Epochs:00}") : string.Create(C, $"epoch {Epoch:00}");

    public string Status
    {
        get
        {
            var workers = Expected > 0 ? $"workers {Alive}/{Expected}" : $"workers {Alive}";
            if (Evaluating) return string.Create(C, $"step {Step}/{StepsPerEpoch} | loss {RunningLoss:F4} | evaluating on the test set | {workers}");
            return string.Create(C,
                $"step {Step}/{StepsPerEpoch} | loss {RunningLoss:F4} | {ImagesPerSecond:N0} img/s | ETA {Duration(Remaining)} | {workers}");
        }
    }

    private static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? string.Create(C, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}") : string.Create(C, $"{t.Minutes}:{t.Seconds:00}");
}
