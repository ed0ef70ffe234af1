using TorchSharp;

namespace DataParallel.Shared.Native;

/// <summary>Process-wide libtorch settings. Thread counts change results bit-wise, so they are set once, explicitly.</summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static int _threads;

    /// <summary>Sets libtorch's intra-op thread count (and one inter-op thread) for the whole process.</summary>
    public static void Configure(int intraOpThreads)
    {
        if (intraOpThreads < 1) throw new ArgumentOutOfRangeException(nameof(intraOpThreads), "threads must be at least 1");
        lock (Gate)
        {
            if (_threads == 0)
            {
                try { torch.set_num_interop_threads(1); }
                catch (Exception) { /* only settable before the first parallel region; harmless when it was already set */ }
            }
            torch.set_num_threads(intraOpThreads);
            _threads = intraOpThreads;
        }
    }

    public static int Threads => _threads == 0 ? torch.get_num_threads() : _threads;

    /// <summary>Half the cores per worker on two workers, and so on; never below one.</summary>
    public static int DefaultThreadsPerWorker(int workers) => Math.Max(1, Environment.ProcessorCount / Math.Max(1, workers));
}
