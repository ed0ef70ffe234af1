using System.Runtime.InteropServices;
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
            if (_threads == 0) DisableNnpack();
            _threads = intraOpThreads;
        }
    }

    /// <summary>
    /// On processors NNPACK does not support (this machine's), libtorch prints "Could not initialize NNPACK!
    /// Reason: Unsupported hardware." to stderr each time it considers NNPACK for a convolution. PyTorch users
    /// turn the check off with torch.backends.nnpack.set_flags(False); TorchSharp does not expose it, so we
    /// call the same libtorch function, at::globalContext().setUserEnabledNNPACK(false), by its exported name.
    /// NNPACK cannot run here anyway, so no result changes. Where the symbols are missing this does nothing.
    /// </summary>
    private static unsafe void DisableNnpack()
    {
        if (!OperatingSystem.IsLinux()) return;
        var library = IntPtr.Zero;
        if (!NativeLibrary.TryLoad("libtorch_cpu.so", out library)
            && !NativeLibrary.TryLoad(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libtorch_cpu.so"), out library))
            return;
        if (!NativeLibrary.TryGetExport(library, "_ZN2at13globalContextEv", out var globalContext)
            || !NativeLibrary.TryGetExport(library, "_ZN2at7Context20setUserEnabledNNPACKEb", out var setEnabled))
            return;
        var context = ((delegate* unmanaged<IntPtr>)globalContext)();
        ((delegate* unmanaged<IntPtr, byte, void>)setEnabled)(context, 0);
    }



    public static int Threads => _threads == 0 ? torch.get_num_threads() : _threads;

    /// <summary>Half the cores per worker on two workers, and so on; never below one.</summary>
    public static int DefaultThreadsPerWorker(int workers) => Math.Max(1, Environment.ProcessorCount / Math.Max(1, workers));
}
