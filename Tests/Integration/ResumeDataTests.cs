using System.Security.Cryptography;
using DataParallel.Shared.Data;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>A resumed run checks that its data is the data it started with (the digest in the checkpoint), wherever the data now lives.</summary>
[Collection(ProcessCollection.Name)]
public sealed class ResumeDataTests
{
    private static readonly string[] Tiny =
        ["--in-process", "--workers", "1", "--threads-per-worker", "1", "--epochs", "1", "--limit-train", "512", "--limit-test", "100"];

    [Fact]
    public void A_run_resumed_on_changed_data_is_refused_and_on_a_faithful_copy_goes_on()
    {
        var run = TrainRuns.Train(Tiny);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var before = Snapshot(run.RunDirectory);

        // One pixel of training image 7, which the run used (--limit-train 512).
        var changed = CopyOfData("changed-data");
        ChangeByte(Path.Combine(changed, "train-images-idx3-ubyte"), 16 + 7 * MnistDataset.ImageBytes + 400, pixel => (byte)(pixel ^ 0x80));
        var (code, stdout, stderr) = Resume(run.RunDirectory, changed);
        Assert.Equal(1, code);
        Assert.Matches($"^error: --resume {run.RunDirectory}: the data in {changed} is not the data this run started with "
            + "\\(sha256 [0-9a-f]{64} of the images and labels used, the checkpoint's is [0-9a-f]{64}\\)$", stderr.Trim());
        Assert.DoesNotContain("Final parameters", stdout);
        Assert.Equal(before, Snapshot(run.RunDirectory));

        // A label of test image 3: the test set counts too.
        var changedTest = CopyOfData("changed-test");
        ChangeByte(Path.Combine(changedTest, "t10k-labels-idx1-ubyte"), 8 + 3, label => (byte)((label + 1) % 10));
        Assert.Equal(1, Resume(run.RunDirectory, changedTest).Code);
        Assert.Equal(before, Snapshot(run.RunDirectory));

        // A change to an image the run does not use (index 600 > --limit-train) leaves the data it uses as it was.
        var unused = CopyOfData("unused-changed");
        ChangeByte(Path.Combine(unused, "train-images-idx3-ubyte"), 16 + 600 * MnistDataset.ImageBytes + 400, pixel => (byte)(pixel ^ 0x80));
        var resumed = Resume(run.RunDirectory, unused);
        Assert.True(resumed.Code == 0, resumed.Stderr);
        Assert.Equal(run.Sha256, new TrainRuns.Outcome(0, resumed.Stdout, resumed.Stderr, run.RunDirectory).Sha256);
    }

    private static (int Code, string Stdout, string Stderr) Resume(string runDirectory, string data) =>
        ProgramProcess.Run("Coordinator",
            ["train", "--resume", runDirectory, "--data", data, "--in-process", "--workers", "1", "--threads-per-worker", "1"],
            TimeSpan.FromMinutes(2));

    private static string CopyOfData(string name)
    {
        var copy = Path.Combine(Repository.NewTempDirectory(name), "mnist");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(Repository.MnistDirectory))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    private static void ChangeByte(string path, long offset, Func<byte, byte> change)
    {
        using var stream = new FileStream(path, FileMode.Open);
        stream.Position = offset;
        var value = (byte)stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte(change(value));
    }

    /// <summary>Every file under the run directory with its content's digest and its time of last change.</summary>
    private static string Snapshot(string directory) => string.Join('\n',
        Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(f => $"{f} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))} {File.GetLastWriteTimeUtc(f):O}"));
}
