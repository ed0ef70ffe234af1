namespace DataParallel.Bench;

public enum Trainer { Ours, PyTorch }

/// <summary>One row of the benchmark: a trainer and the arguments that select its mode.</summary>
/// <param name="Key">Short name, for --only and the raw CSV.</param>
/// <param name="Distributed">Our worker processes talk over loopback: bytes, latency and coordinator CPU are measured.</param>
public sealed record Configuration(string Key, string Label, Trainer Trainer, IReadOnlyList<string> Arguments, bool Distributed = false)
{
    public const string OursTwoProcesses = "ours-2p";
    public const string OursInProcess = "ours-inproc";
    public const string PyTorchTwoThreads = "pt-2t";
    public const string PyTorchDdp = "pt-ddp";

    /// <summary>In the order they alternate: each of ours next to the PyTorch row it is most often compared with.</summary>
    public static readonly IReadOnlyList<Configuration> All =
    [
        new(PyTorchTwoThreads, "PyTorch, 1 process x 2 threads", Trainer.PyTorch, ["--threads", "2"]),
        new("pt-2t-cl", "PyTorch, 1 process x 2 threads, channels-last", Trainer.PyTorch, ["--threads", "2", "--channels-last"]),
        new(OursTwoProcesses, "ours, 2 worker processes x 1 thread (default)", Trainer.Ours, ["--workers", "2"], Distributed: true),
        new(PyTorchDdp, "PyTorch DDP gloo, 2 processes x 1 thread", Trainer.PyTorch, ["--ddp", "2"]),
        new("pt-ddp-cl", "PyTorch DDP gloo, 2 processes x 1 thread, channels-last", Trainer.PyTorch, ["--ddp", "2", "--channels-last"]),
        new(OursInProcess, "ours, --in-process, 2 workers x 1 thread", Trainer.Ours, ["--in-process", "--workers", "2", "--threads-per-worker", "1"]),
        new("ours-2p-nchw", "ours, 2 worker processes, --layout nchw", Trainer.Ours, ["--workers", "2", "--layout", "nchw"], Distributed: true),
        new("ours-2p-akka", "ours, 2 worker processes, tensors through Akka.Remote (--no-data-channel)", Trainer.Ours,
            ["--workers", "2", "--no-data-channel"], Distributed: true),
        new("ours-1x2", "ours, single process, 1 worker x 2 threads", Trainer.Ours, ["--in-process", "--workers", "1", "--threads-per-worker", "2"]),
        new("pt-1t", "PyTorch, 1 process x 1 thread", Trainer.PyTorch, ["--threads", "1"]),
        new("pt-1t-cl", "PyTorch, 1 process x 1 thread, channels-last", Trainer.PyTorch, ["--threads", "1", "--channels-last"]),
        new("ours-1x1", "ours, single process, 1 worker x 1 thread", Trainer.Ours, ["--in-process", "--workers", "1", "--threads-per-worker", "1"]),
        new("ours-1p", "ours, 1 worker process x 2 threads", Trainer.Ours, ["--workers", "1", "--threads-per-worker", "2"], Distributed: true),
        new("ours-3p", "ours, 3 worker processes x 1 thread (unpinned)", Trainer.Ours, ["--workers", "3", "--threads-per-worker", "1"],
            Distributed: true),
    ];
}
