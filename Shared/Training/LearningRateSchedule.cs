namespace DataParallel.Shared.Training;

/// <summary>The learning rate and momentum (Adam: beta1) to use at a global step.</summary>
public interface ILearningRateSchedule
{
    (double LearningRate, double Momentum) At(long step);
}

public sealed record ConstantSchedule(double LearningRate, double Momentum) : ILearningRateSchedule
{
    public (double LearningRate, double Momentum) At(long step) => (LearningRate, Momentum);
}

/// <summary>
/// torch.optim.lr_scheduler.OneCycleLR with cosine annealing and two phases: the rate climbs from
/// max/div to max over the first PctStart of the steps while momentum falls from MaxMomentum to
/// BaseMomentum, then the rate anneals to max/(div*finalDiv) while momentum climbs back.
/// </summary>
public sealed record OneCycleSchedule(
    double MaxLearningRate,
    long TotalSteps,
    double PctStart = 0.25,
    double DivFactor = 25,
    double FinalDivFactor = 1e4,
    double BaseMomentum = 0.85,
    double MaxMomentum = 0.95) : ILearningRateSchedule
{
    public (double LearningRate, double Momentum) At(long step)
    {
        if (step < 0 || step >= TotalSteps)
            throw new ArgumentOutOfRangeException(nameof(step), $"step {step} outside a one-cycle schedule of {TotalSteps} steps");
        var initial = MaxLearningRate / DivFactor;
        var min = initial / FinalDivFactor;
        var warmupEnd = PctStart * TotalSteps - 1;
        var end = TotalSteps - 1.0;
        if (step <= warmupEnd)
        {
            var pct = warmupEnd <= 0 ? 1 : step / warmupEnd;
            return (Cosine(initial, MaxLearningRate, pct), Cosine(MaxMomentum, BaseMomentum, pct));
        }
        var pct2 = end - warmupEnd <= 0 ? 1 : (step - warmupEnd) / (end - warmupEnd);
        return (Cosine(MaxLearningRate, min, pct2), Cosine(BaseMomentum, MaxMomentum, pct2));
    }

    private static double Cosine(double start, double end, double pct) => end + (start - end) / 2 * (Math.Cos(Math.PI * pct) + 1);
}
