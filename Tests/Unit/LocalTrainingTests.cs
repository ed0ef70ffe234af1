using DataParallel.Coordinator.Training;
using DataParallel.Shared.Settings;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

/// <summary>--sync params: a replica's round of local SGD, computed without any actor.</summary>
public sealed class LocalTrainingTests
{
    private static TrainingRun Run(int localSteps) =>
        TrainingRun.Create(new TrainSettings { Epochs = 1, Sync = SyncMode.Params, LocalSteps = localSteps },
            Repository.Train.Take(256), Repository.Test.Take(100), 1);

    private static ReplicaResult Round(TrainingRun run)
    {
        using var replica = new ModelReplica(run.Settings.Dropout);
        return LocalTraining.Run(replica, run.BuildReplicaRound(0), new Augmentation(run.Settings.AugmentDegrees, run.Settings.AugmentTranslate));
    }

    [Fact]
    public void One_replica_taking_two_local_steps_ends_where_two_rounds_of_one_step_end()
    {
        // With one replica, averaging is the identity: local SGD must then be plain SGD, to the bit.
        var together = Run(localSteps: 2);
        together.ApplyRound([Round(together)]);

        var apart = Run(localSteps: 1);
        var first = Round(apart);
        apart.ApplyRound([first]);
        apart.ApplyRound([Round(apart)]);

        Assert.Equal(2, together.Step);
        Assert.Equal(apart.Parameters, together.Parameters);
        Assert.Equal(apart.Buffers, together.Buffers);
        Assert.Equal(apart.Optimizer.State[0], together.Optimizer.State[0]);
        Assert.Equal(apart.EpochLossSum, together.EpochLossSum, 10);
        Assert.NotEqual(Run(localSteps: 1).Parameters, together.Parameters);
    }

    [Fact]
    public void A_round_is_a_pure_function_of_its_message()
    {
        var run = Run(localSteps: 2);
        var a = Round(run);
        var b = Round(run);
        Assert.Equal(a.Parameters, b.Parameters);
        Assert.Equal(a.Buffers, b.Buffers);
        Assert.Equal((a.Correct, a.Count), (b.Correct, b.Count));
        Assert.Equal(256, a.Count);
    }
}
