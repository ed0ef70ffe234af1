using DataParallel.Shared.Protocol;

namespace DataParallel.Shared.Training;

/// <summary>A replica after its round: where its local steps took it, and what it saw on the way.</summary>
public sealed record ReplicaResult(float[] Parameters, float[] Buffers, float[][] OptimizerState, double LossSum, int Correct, int Count);

/// <summary>
/// --sync params: one replica's round of local SGD. The replica starts from the round's shared parameters,
/// buffers and optimizer state and takes one optimizer step per local step on its own micro-batch.
/// </summary>
public static class LocalTraining
{
    public static ReplicaResult Run(ModelReplica replica, TrainReplica round, Augmentation augmentation)
    {
        var parameters = (float[])round.Parameters.Clone();
        var buffers = round.Buffers;
        var optimizer = Optimizers.Create(round.Optimizer, parameters.Length, round.WeightDecay);
        optimizer.Restore(round.OptimizerSteps, round.OptimizerState);
        double lossSum = 0;
        int correct = 0, count = 0;
        foreach (var step in round.Steps)
        {
            replica.Load(parameters, buffers);
            var batch = step.Batch;
            var result = replica.ComputeGradients(buffers, batch.Images, batch.Labels, batch.AugmentSeed, batch.DropoutSeed, augmentation);
            optimizer.Step(parameters, result.Gradients, step.LearningRate, step.Momentum);
            buffers = result.Buffers;
            lossSum += (double)result.Loss * result.Count;
            correct += result.Correct;
            count += result.Count;
        }
        return new ReplicaResult(parameters, buffers, optimizer.State.Select(s => (float[])s.Clone()).ToArray(), lossSum, correct, count);
    }
}
