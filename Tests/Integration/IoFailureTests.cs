using DataParallel.Shared.Cluster;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using DataParallel.Shared.Settings;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>
/// Real failing file systems under a real coordinator: a disk that fills up mid-run, a read-only run directory, a
/// checkpoint directory too small for a checkpoint, a device error on a data file or a checkpoint, standard output
/// on /dev/full. Each is one `error: PATH: REASON` line and exit code 2, never exit 0 with lines lost, never a stack
/// trace, and what was written before stays as it was.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class IoFailureTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private static readonly string[] Tiny =
        ["--in-process", "--workers", "1", "--threads-per-worker", "1", "--epochs", "1", "--limit-train", "512", "--limit-test", "100"];

    // Reading /proc/self/mem at offset 0 (never mapped) fails in the kernel with EIO: a device error on demand, no root needed.
    private const string DeviceError = "/proc/self/mem";

    [Fact]
    public void A_disk_that_fills_up_mid_run_stops_it_with_one_error_line_and_keeps_what_was_written()
    {
        using var disk = Mount.Tmpfs(Path.Combine(Repository.NewTempDirectory("full-disk"), "mnt"), kilobytes: 8192);
        var dir = Path.Combine(disk.Directory, "run");
        // Held before epoch 2 until a second worker joins: epoch 1 is on disk, and the disk fills up in between.
        using var coordinator = ProgramProcess.Start("Coordinator", ["train", "--data", Repository.MnistDirectory, "--out", dir,
            "--external", "--workers", "1", "--port", "0", "--log-every", "1", "--hold-until-joins", "2@2:0", .. CleanRun.Settings]);
        using var first = Worker(coordinator, "first");
        FaultToleranceTests.WaitFor(coordinator, FaultToleranceTests.Holding(2, 0, 2));
        var before = Snapshot(dir, "metrics.csv", "metrics.jsonl", "workers.csv", "config.json");

        Assert.True(disk.Fill() > 0);
        using var second = Worker(coordinator, "second");

        var stderr = Exit(coordinator, ExitCodes.Failed);
        Assert.Matches($"^error: {Regex.Escape(dir)}/\\S+: cannot write: No space left on device$", OneErrorLine(stderr));
        Assert.DoesNotContain("Final parameters", coordinator.Stdout);
        Assert.False(File.Exists(Path.Combine(dir, "result.json")));
        Assert.Equal(before, Snapshot(dir, "metrics.csv", "metrics.jsonl", "workers.csv", "config.json"));
        Assert.Single(File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")));
    }

    [Fact]
    public void A_checkpoint_directory_too_small_for_a_checkpoint_stops_the_run_at_its_first_checkpoint()
    {
        Mount.RequireRoot();
        var dir = Path.Combine(Repository.NewTempDirectory("checkpoint-full"), "run");
        using var coordinator = ProgramProcess.Start("Coordinator", ["train", "--data", Repository.MnistDirectory, "--out", dir,
            "--external", "--workers", "1", "--port", "0", "--log-every", "1", "--hold-until-joins", "2@1:3", .. CleanRun.Settings]);
        using var first = Worker(coordinator, "first");
        FaultToleranceTests.WaitFor(coordinator, FaultToleranceTests.Holding(1, 3, 2));
        // A checkpoint of the seed model with its optimizer state takes about 105 KB.
        using var checkpoints = Mount.Tmpfs(Path.Combine(dir, "checkpoints"), kilobytes: 64);
        using var second = Worker(coordinator, "second");

        var stderr = Exit(coordinator, ExitCodes.Failed);
        Assert.Equal($"error: {checkpoints.Directory}/checkpoint-e002-s000000.ckpt: cannot write: No space left on device", OneErrorLine(stderr));
        Assert.Empty(Directory.GetFileSystemEntries(checkpoints.Directory)); // the partial temporary file is removed
        Assert.Single(File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"))); // epoch 1, reported before its checkpoint
    }

    [Fact]
    public void A_read_only_run_directory_is_an_error_before_training_and_a_resumed_one_is_left_as_it_was()
    {
        Mount.RequireRoot();
        var root = Repository.NewTempDirectory("read-only");
        var empty = Directory.CreateDirectory(Path.Combine(root, "empty")).FullName;
        using (var mount = Mount.ReadOnly(empty, Path.Combine(root, "new-run")))
        {
            var (code, stdout, stderr) = ProgramProcess.Run("Coordinator",
                ["train", "--data", Repository.MnistDirectory, "--out", mount.Directory, .. Tiny], Long);
            Assert.Equal(ExitCodes.Failed, code);
            // The first thing a new run writes is its own TLS certificate.
            Assert.Equal($"error: {mount.Directory}/{ClusterCertificate.RunFileName}: cannot write: Read-only file system", stderr.Trim());
            Assert.DoesNotContain("Epoch", stdout);
        }
        Assert.Empty(Directory.GetFileSystemEntries(empty));

        var finished = TrainRuns.Train(Tiny);
        Assert.True(finished.ExitCode == 0, finished.Stderr);
        var before = Snapshot(finished.RunDirectory);
        using (var mount = Mount.ReadOnly(finished.RunDirectory, Path.Combine(root, "finished-run")))
        {
            var (code, _, stderr) = ProgramProcess.Run("Coordinator",
                ["train", "--resume", mount.Directory, "--in-process", "--workers", "1", "--threads-per-worker", "1"], Long);
            Assert.Equal(ExitCodes.Failed, code);
            Assert.Equal($"error: {mount.Directory}/{ClusterCertificate.RunFileName}: cannot write: Read-only file system", OneErrorLine(stderr));
        }
        Assert.Equal(before, Snapshot(finished.RunDirectory));
    }

    [Fact]
    public void A_data_file_that_cannot_be_read_is_named_with_the_systems_reason_and_nothing_is_written()
    {
        var data = Repository.NewTempDirectory("unreadable-data");
        foreach (var file in Directory.GetFiles(Repository.MnistDirectory))
            File.CreateSymbolicLink(Path.Combine(data, Path.GetFileName(file)), file);
        var images = Path.Combine(data, "train-images-idx3-ubyte");
        File.Delete(images);
        File.CreateSymbolicLink(images, DeviceError);
        var output = Path.Combine(data, "run");

        var (code, _, stderr) = ProgramProcess.Run("Coordinator", ["train", "--data", data, "--out", output, .. Tiny], Long);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Equal($"error: {images}: cannot read: Input/output error", stderr.Trim());
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void A_checkpoint_that_cannot_be_read_is_an_error_not_a_silent_fall_back_to_an_older_one()
    {
        var finished = TrainRuns.Train([.. Tiny, "--checkpoint-every-steps", "2"]);
        Assert.True(finished.ExitCode == 0, finished.Stderr);
        var newest = new Coordinator.Training.CheckpointStore(finished.RunDirectory).Files()[0];
        File.Delete(newest);
        File.CreateSymbolicLink(newest, DeviceError);
        var before = Snapshot(finished.RunDirectory);

        var (code, _, stderr) = ProgramProcess.Run("Coordinator",
            ["train", "--resume", finished.RunDirectory, "--in-process", "--workers", "1", "--threads-per-worker", "1"], Long);
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Equal($"error: {newest}: cannot read: Input/output error", stderr.Trim());
        Assert.Equal(before, Snapshot(finished.RunDirectory));
    }

    [Fact]
    public void Standard_output_on_a_full_device_is_an_error_on_standard_error()
    {
        var dir = Path.Combine(Repository.NewTempDirectory("dev-full"), "run");
        var start = new ProcessStartInfo("sh") { RedirectStandardError = true, UseShellExecute = false };
        string[] arguments = ["-c", "exec dotnet \"$@\" > /dev/full", "sh", Path.Combine(AppContext.BaseDirectory, "Coordinator.dll"),
            "train", "--data", Repository.MnistDirectory, "--out", dir, .. Tiny];
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(Long), "the coordinator did not finish");
        Assert.Equal(ExitCodes.Failed, process.ExitCode);
        Assert.Equal("error: standard output: cannot write: No space left on device", stderr.Trim());
        Assert.False(File.Exists(Path.Combine(dir, "metrics.csv")));
    }

    private static ProgramProcess Worker(ProgramProcess coordinator, string id) =>
        FaultToleranceTests.StartWorker(coordinator, id, "--rejoin-timeout", "30");

    private static string Exit(ProgramProcess coordinator, int expected)
    {
        Assert.True(coordinator.WaitForExit(Long), $"the coordinator did not finish\nstdout:\n{coordinator.Stdout}\nstderr:\n{coordinator.Stderr}");
        Assert.True(coordinator.Process.ExitCode == expected,
            $"exit {coordinator.Process.ExitCode}, expected {expected}\nstdout:\n{coordinator.Stdout}\nstderr:\n{coordinator.Stderr}");
        return coordinator.Stderr;
    }

    /// <summary>The one `error:` line of stderr; nothing on it looks like a stack trace.</summary>
    private static string OneErrorLine(string stderr)
    {
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stderr);
        var errors = stderr.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"expected one error line:\n{stderr}");
        return errors[0];
    }

    /// <summary>The named files (or all, recursively) with their content's digest and time of last change.</summary>
    private static string Snapshot(string directory, params string[] names)
    {
        var files = names.Length > 0
            ? names.Select(n => Path.Combine(directory, n))
            : Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);
        return string.Join('\n', files.Select(f =>
            !File.Exists(f) ? $"{f} missing"
            : new FileInfo(f).LinkTarget is { } target ? $"{f} -> {target}"
            : $"{f} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))} {File.GetLastWriteTimeUtc(f):O}"));
    }
}
