using DataParallel.Shared.Data;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

/// <summary>The real files, as the fetcher put them in data/mnist.</summary>
public sealed class MnistDataTests
{
    [Fact]
    public void Real_mnist_has_the_standard_counts_and_class_balance()
    {
        Assert.Equal(60_000, Repository.Train.Count);
        Assert.Equal(10_000, Repository.Test.Count);
        var counts = new int[10];
        foreach (var l in Repository.Train.Labels) counts[l]++;
        Assert.Equal(new[] { 5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949 }, counts);
    }

    [Fact]
    public void Fetched_files_match_their_published_checksums()
    {
        foreach (var expected in MnistFiles.All)
            MnistFetcher.Verify(Path.Combine(Repository.MnistDirectory, expected.Name), expected);
    }

    [Fact]
    public void Verify_names_the_file_whose_checksum_differs()
    {
        var dir = Repository.NewTempDirectory("sha");
        try
        {
            var expected = MnistFiles.All[1];
            var path = Path.Combine(dir, expected.Name);
            var bytes = File.ReadAllBytes(Path.Combine(Repository.MnistDirectory, expected.Name));
            bytes[^1] ^= 1;
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<DataFileException>(() => MnistFetcher.Verify(path, expected));
            Assert.StartsWith($"{path}: sha256 ", e.Message);
            Assert.Contains($"does not match the published {expected.Sha256} of {expected.Name}", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Fetcher_downloads_verifies_and_leaves_no_partial_files()
    {
        var dir = Path.Combine(Repository.NewTempDirectory("fetch"), "mnist");
        try
        {
            MnistFetcher.EnsurePresent(dir);
            Assert.Equal(MnistFiles.All.Select(f => f.Name).Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order());
            Assert.Equal(10_000, MnistDataset.Load(dir, MnistSplit.Test).Count);
        }
        finally { Directory.Delete(Path.GetDirectoryName(dir)!, true); }
    }
}
