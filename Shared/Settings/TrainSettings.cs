using System.Text.Json;
using System.Text.Json.Serialization;

namespace DataParallel.Shared.Settings;

public enum SyncMode { Grads, Params }

/// <summary>
/// Everything that determines what a run computes. Two runs with equal settings (and equal threads per
/// worker) end with bit-identical parameters. Stored with every checkpoint and in config.json.
/// </summary>
public sealed record TrainSettings
{
    public string Data { get; init; } = "data/mnist";
    public int Epochs { get; init; } = 15;
    public int BatchSize { get; init; } = 128;
    public int MicroBatch { get; init; } = 64;
    public string Optimizer { get; init; } = "nesterov";
    /// <summary>Peak learning rate of one-cycle, or the constant rate.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>SGD momentum (Adam: beta1) for the constant schedule; one-cycle cycles it between 0.85 and 0.95.</summary>
    public double Momentum { get; init; } = 0.9;
    public double WeightDecay { get; init; } = 0;
    public string Schedule { get; init; } = "onecycle";
    public double PctStart { get; init; } = 0.25;
    public long Seed { get; init; } = 1;
    public int? LimitTrain { get; init; }
    public int? LimitTest { get; init; }
    public double Dropout { get; init; } = 0.1;
    public double AugmentDegrees { get; init; } = 7;
    public double AugmentTranslate { get; init; } = 0.1;
    public SyncMode Sync { get; init; } = SyncMode.Grads;
    public int LocalSteps { get; init; } = 1;
    /// <summary>--sync params: how many model replicas train side by side (0: one per worker at the start).</summary>
    public int Replicas { get; init; }
    public int EvalChunk { get; init; } = 500;
    /// <summary>
    /// --layout: activations in channels-last memory (the default) or NCHW. Both are deterministic; they differ in the
    /// bits (other kernels), so a run keeps its layout, and a checkpoint written before the setting existed is NCHW.
    /// </summary>
    public bool ChannelsLast { get; init; } = true;

    public static readonly string[] Schedules = ["onecycle", "constant"];

    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}
