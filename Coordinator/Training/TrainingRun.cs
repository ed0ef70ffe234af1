using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Settings;
using DataParallel.Shared.Training;

namespace DataParallel.Coordinator.Training;

/// <summary>A gradient or replica result that contains NaN or infinity.</summary>
public sealed class NonFiniteException(string message) : Exception(message);

/// <summary>
/// The coordinator's side of training as plain state: parameters, buffers, optimizer, schedule and the
/// (epoch, step) cursor. It says what each step's work is and applies what comes back; it neither sends
/// nor waits, so it can be driven by the actor, by a test, or restored from a checkpoint.
/// </summary>
public sealed class TrainingRun
{
    private EpochPlan? _plan;
    private string? _dataSha256;

    public TrainingRun(TrainSettings settings, MnistDataset train, MnistDataset test, StateLayout layout, float[] parameters, float[] buffers,
        int replicas)
    {
        Settings = settings;
        Train = train;
        Test = test;
        Layout = layout;
        Parameters = parameters;
        Buffers = buffers;
        Replicas = settings.Sync == SyncMode.Params ? Math.Max(1, replicas) : 1;
        StepsPerEpoch = EpochPlan.StepsPerEpoch(train.Count, settings.BatchSize);
        TotalSteps = (long)StepsPerEpoch * settings.Epochs;
        Optimizer = Optimizers.Create(settings.Optimizer, layout.ParameterLength, settings.WeightDecay);
        Schedule = settings.Schedule switch
        {
            "onecycle" => new OneCycleSchedule(settings.LearningRate, TotalSteps, settings.PctStart),
            "constant" => new ConstantSchedule(settings.LearningRate, settings.Momentum),
            _ => throw new ArgumentException($"unknown schedule '{settings.Schedule}'"),
        };
    }

    /// <summary>A new run: the model initialised by libtorch from a seed derived from the run's seed.</summary>
    public static TrainingRun Create(TrainSettings settings, MnistDataset train, MnistDataset test, int replicas)
    {
        var (layout, parameters, buffers) = SeedNet.Seeded(SeedSequence.ForTorch(SeedSequence.Derive(settings.Seed, SeedPurpose.Init)), () =>
        {
            using var model = new SeedNet(settings.Dropout);
            var state = new ModelState(model);
            return (state.Layout, state.ReadParameters(), state.ReadBuffers());
        });
        return new TrainingRun(settings, train, test, layout, parameters, buffers, replicas);
    }

    public TrainSettings Settings { get; }
    public MnistDataset Train { get; }
    public MnistDataset Test { get; }
    public StateLayout Layout { get; }
    public IOptimizer Optimizer { get; }
    public ILearningRateSchedule Schedule { get; }
    public int Replicas { get; }
    public int StepsPerEpoch { get; }
    public long TotalSteps { get; }

    /// <summary>Never mutated once published: each step replaces the array, so a copy already sent stays valid.</summary>
    public float[] Parameters { get; private set; }
    public float[] Buffers { get; private set; }

    /// <summary>1-based epoch being trained; Epochs + 1 once the run is over.</summary>
    public int Epoch { get; private set; } = 1;
    /// <summary>0-based step within the epoch; StepsPerEpoch once the epoch's training is done.</summary>
    public int Step { get; private set; }
    /// <summary>Optimizer steps applied so far: the version of <see cref="Parameters"/>.</summary>
    public long Version => (long)(Epoch - 1) * StepsPerEpoch + Step;
    public bool EpochTrained => Step >= StepsPerEpoch;
    public bool Finished => Epoch > Settings.Epochs;

    public double EpochLossSum { get; private set; }
    public int EpochCorrect { get; private set; }
    public int EpochExamples { get; private set; }
    public (double LearningRate, double Momentum) LastSchedule { get; private set; }

    public JobSpec Job(string runId) =>
        new(runId, Settings.Seed, Settings.Dropout, Settings.AugmentDegrees, Settings.AugmentTranslate, Settings.ChannelsLast);

    public string Sha256() => StateHash.Sha256(Layout, Parameters, Buffers);

    /// <summary>The digest of <see cref="Train"/> and <see cref="Test"/>, computed once (about 55 MB for all of MNIST).</summary>
    public string DataSha256 => _dataSha256 ??= DataDigest.Of(Train, Test);

    private EpochPlan Plan => _plan is { } p && p.Epoch == Epoch
        ? p
        : _plan = new EpochPlan(Settings.Seed, Epoch, Train.Count, Settings.BatchSize, MicroBatchSize);

    private int MicroBatchSize => Settings.Sync == SyncMode.Params ? Settings.BatchSize / Replicas : Settings.MicroBatch;

    // ---- --sync grads: one optimizer step per global batch, gradients from every micro-batch ----

    public IReadOnlyList<MicroBatchSpec> MicroBatches() => Plan.MicroBatches(Step);

    public int MicroBatchCount(int step) => Plan.MicroBatches(step).Count;

    public MicroBatch BuildMicroBatch(int step, int index)
    {
        var spec = Plan.MicroBatches(step)[index];
        var (images, labels) = Train.Gather(Plan.StepIndices(step).Slice(spec.Offset, spec.Count));
        return new MicroBatch(index, images, labels,
            SeedSequence.Derive(Settings.Seed, SeedPurpose.Augment, Epoch, step, index),
            SeedSequence.Derive(Settings.Seed, SeedPurpose.Dropout, Epoch, step, index));
    }

    public void ApplyStep(CombinedStep combined)
    {
        if (EpochTrained) throw new InvalidOperationException($"epoch {Epoch} has no step {Step}");
        if (!Finite(combined.Gradients) || !Finite(combined.Buffers))
            throw new NonFiniteException($"epoch {Epoch} step {Step}: the combined gradient is not finite");
        var schedule = Schedule.At(Version);
        var next = (float[])Parameters.Clone();
        Optimizer.Step(next, combined.Gradients, schedule.LearningRate, schedule.Momentum);
        if (!Finite(next))
            throw new NonFiniteException($"epoch {Epoch} step {Step}: the optimizer step produced non-finite parameters "
                + $"(learning rate {schedule.LearningRate:G4} too high?)");
        var buffers = (float[])combined.Buffers.Clone();
        Layout.RoundIntegerBuffers(buffers);
        Parameters = next;
        Buffers = buffers;
        LastSchedule = schedule;
        EpochLossSum += combined.Loss * combined.Count;
        EpochCorrect += combined.Correct;
        EpochExamples += combined.Count;
        Step++;
    }

    // ---- --sync params: replicas take LocalSteps steps each on their own shard, then are averaged ----

    public int RoundSteps => Math.Min(Math.Max(1, Settings.LocalSteps), StepsPerEpoch - Step);

    public TrainReplica BuildReplicaRound(int replica)
    {
        var steps = new LocalStep[RoundSteps];
        for (var i = 0; i < steps.Length; i++)
        {
            var step = Step + i;
            var (lr, momentum) = Schedule.At(Version + i);
            var shards = Plan.MicroBatches(step);
            // A short last step may have fewer shards than replicas: those replicas reuse the last shard.
            steps[i] = new LocalStep(step, lr, momentum, BuildMicroBatch(step, Math.Min(replica, shards.Count - 1)));
        }
        return new TrainReplica(new UnitId(Epoch, Version, UnitKind.Replica, replica), Settings.Optimizer, Settings.WeightDecay,
            Parameters, Buffers, Optimizer.State.ToArray(), Optimizer.StepCount, steps);
    }

    /// <summary>Averages the replicas' parameters, buffers and optimizer state in replica order.</summary>
    public void ApplyRound(IReadOnlyList<ReplicaResult> replicas)
    {
        if (replicas.Count != Replicas) throw new ArgumentException($"{replicas.Count} replica results for {Replicas} replicas");
        for (var i = 0; i < replicas.Count; i++)
        {
            if (!Finite(replicas[i].Parameters) || !Finite(replicas[i].Buffers))
                throw new NonFiniteException($"epoch {Epoch} round at step {Step}: replica {i} has non-finite parameters");
        }
        var steps = RoundSteps;
        var parameters = Average(replicas.Select(r => r.Parameters).ToList());
        var buffers = Average(replicas.Select(r => r.Buffers).ToList());
        Layout.RoundIntegerBuffers(buffers);
        var state = Enumerable.Range(0, Optimizer.State.Count)
            .Select(i => Average(replicas.Select(r => r.OptimizerState[i]).ToList())).ToArray();
        Optimizer.Restore(Optimizer.StepCount + steps, state);
        Parameters = parameters;
        Buffers = buffers;
        LastSchedule = Schedule.At(Version + steps - 1);
        foreach (var r in replicas)
        {
            EpochLossSum += r.LossSum;
            EpochCorrect += r.Correct;
            EpochExamples += r.Count;
        }
        Step += steps;
    }

    // ---- evaluation and the epoch boundary ----

    public int EvalChunks => (Test.Count + Settings.EvalChunk - 1) / Settings.EvalChunk;

    public int EvalChunkCount(int chunk) => Math.Min(Settings.EvalChunk, Test.Count - chunk * Settings.EvalChunk);

    public (byte[] Images, byte[] Labels) EvalChunk(int chunk)
    {
        var start = chunk * Settings.EvalChunk;
        var count = EvalChunkCount(chunk);
        return (Test.Images.AsSpan(start * MnistDataset.ImageBytes, count * MnistDataset.ImageBytes).ToArray(),
                Test.Labels.AsSpan(start, count).ToArray());
    }

    /// <summary>Closes the epoch: returns its training loss and accuracy and moves the cursor to the next epoch.</summary>
    public (double Loss, double Accuracy, int Examples) CompleteEpoch()
    {
        if (!EpochTrained) throw new InvalidOperationException($"epoch {Epoch} is at step {Step} of {StepsPerEpoch}");
        var result = (EpochLossSum / EpochExamples, (double)EpochCorrect / EpochExamples, EpochExamples);
        Epoch++;
        Step = 0;
        EpochLossSum = 0;
        EpochCorrect = 0;
        EpochExamples = 0;
        return result;
    }

    // ---- checkpoints ----

    public Checkpoint Snapshot(string runId, double epochTrainSeconds, double runSeconds, IReadOnlyList<Reporting.EpochMetrics> history) =>
        new(runId, Settings, Replicas, Layout.Fingerprint, Epoch, Step, Optimizer.Name, Optimizer.StepCount,
            Optimizer.State.Select(v => (float[])v.Clone()).ToArray(), Parameters, Buffers,
            EpochLossSum, EpochCorrect, EpochExamples, epochTrainSeconds, runSeconds, history.ToList()) { DataSha256 = DataSha256 };

    /// <summary>Continues from a checkpoint of a run with the same settings and model.</summary>
    public void Restore(Checkpoint c)
    {
        if (c.Fingerprint != Layout.Fingerprint)
            throw new ArgumentException($"the checkpoint's model fingerprint {c.Fingerprint} differs from this build's {Layout.Fingerprint}");
        if (c.Settings with { Data = Settings.Data } != Settings)
            throw new ArgumentException("the checkpoint was written with other settings");
        // The data may move (--data), but must be the same bytes: other images would silently make another model.
        if (c.DataSha256 is not null && c.DataSha256 != DataSha256)
            throw new ArgumentException($"the data in {Settings.Data} is not the data this run started with "
                + $"(sha256 {DataSha256} of the images and labels used, the checkpoint's is {c.DataSha256})");
        if (c.Parameters.Length != Layout.ParameterLength || c.Buffers.Length != Layout.BufferLength)
            throw new ArgumentException($"the checkpoint holds {c.Parameters.Length} parameters and {c.Buffers.Length} buffers, "
                + $"the model has {Layout.ParameterLength} and {Layout.BufferLength}");
        if (c.Step < 0 || c.Step > StepsPerEpoch || c.Epoch < 1 || c.Epoch > Settings.Epochs + 1)
            throw new ArgumentException($"the checkpoint's position (epoch {c.Epoch}, step {c.Step}) is outside this run");
        Optimizer.Restore(c.OptimizerSteps, c.OptimizerState);
        Parameters = c.Parameters;
        Buffers = c.Buffers;
        Epoch = c.Epoch;
        Step = c.Step;
        EpochLossSum = c.EpochLossSum;
        EpochCorrect = c.EpochCorrect;
        EpochExamples = c.EpochExamples;
        if (Version > 0) LastSchedule = Schedule.At(Math.Min(Version, TotalSteps) - 1);
    }

    public static bool Finite(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    private static float[] Average(IReadOnlyList<float[]> vectors)
    {
        var result = new float[vectors[0].Length];
        foreach (var v in vectors)
            for (var i = 0; i < result.Length; i++) result[i] += v[i];
        var scale = 1f / vectors.Count;
        for (var i = 0; i < result.Length; i++) result[i] *= scale;
        return result;
    }
}
