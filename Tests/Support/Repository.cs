using DataParallel.Coordinator.Cli;
using DataParallel.Shared.Data;

namespace DataParallel.Tests.Support;

/// <summary>Paths into the repository and its real MNIST data (fetched on first use, as the programs do).</summary>
public static class Repository
{
    public static string Root { get; } = RepositoryPaths.FindRoot(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException(
            "tests must run inside the repository (DataParallel.sln not found above " + AppContext.BaseDirectory + ")");

    private static readonly Lazy<string> LazyData = new(() =>
    {
        var data = Path.Combine(Root, "data", "mnist");
        MnistFetcher.EnsurePresent(data);
        return data;
    });

    public static string MnistDirectory => LazyData.Value;

    private static readonly Lazy<MnistDataset> LazyTrain = new(() => MnistDataset.Load(MnistDirectory, MnistSplit.Train));
    private static readonly Lazy<MnistDataset> LazyTest = new(() => MnistDataset.Load(MnistDirectory, MnistSplit.Test));

    public static MnistDataset Train => LazyTrain.Value;
    public static MnistDataset Test => LazyTest.Value;

    public static string NewTempDirectory(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"dp-{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }
}
