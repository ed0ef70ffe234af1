namespace DataParallel.Bench;

/// <summary>Everything one invocation of the benchmark depends on; printed at the top of the results file.</summary>
public sealed record BenchOptions
{
    public required string Repository { get; init; }
    public int Repetitions { get; init; } = 5;
    /// <summary>Training images per epoch (the first N of the training set).</summary>
    public int Images { get; init; } = 20_480;
    /// <summary>Epochs before the measured one, run and discarded in every run.</summary>
    public int WarmupEpochs { get; init; } = 1;
    public int BatchSize { get; init; } = 128;
    public bool Augment { get; init; } = true;
    /// <summary>Configuration keys to run (empty: all).</summary>
    public IReadOnlyList<string> Only { get; init; } = [];
    public string Python { get; init; } = "/usr/bin/python3";
    /// <summary>Also run the default `train` (15 epochs, full data) once: time to 99.5%, drift, RSS per epoch.</summary>
    public bool DefaultRun { get; init; }
    public TimeSpan RunTimeout { get; init; } = TimeSpan.FromMinutes(10);
    public string Results { get; init; } = "";
    public string CommandLine { get; init; } = "";

    public int Epochs => WarmupEpochs + 1;
    public int StepsPerEpoch => (Images + BatchSize - 1) / BatchSize;
    public string Data => Path.Combine(Repository, "data", "mnist");
    public string Coordinator => Path.Combine(Repository, "Coordinator", "bin", "Release", "net10.0", "Coordinator");
    public string PyTorchScript => Path.Combine(Repository, "bench", "pytorch_ref.py");

    /// <summary>Logs a step line this often, so that the measured epoch is sampled about 16 times.</summary>
    public int LogEvery => Math.Max(1, StepsPerEpoch / 16);
}
