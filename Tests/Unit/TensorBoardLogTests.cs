using System.Text;
using DataParallel.Coordinator.Reporting;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class TensorBoardLogTests
{
    [Fact]
    public void Crc32C_gives_the_standard_check_value_and_agrees_with_TorchSharps_native_one()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        var random = new Random(7);
        foreach (var length in new[] { 0, 1, 8, 13, 1000 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(TorchSharp.Utils.CRC32C.process(data), Crc32C.Compute(data));
        }
    }

    [Fact]
    public void Steps_and_epochs_come_back_as_TensorBoard_records_with_their_tags_steps_and_times()
    {
        var dir = Repository.NewTempDirectory("tensorboard");
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_250);
        using (var log = new TensorBoardLog(dir, message => throw new Xunit.Sdk.XunitException(message), () => now))
        {
            log.Step(new StepCompleted(Epoch: 1, Step: 0, StepsPerEpoch: 10, Loss: 2.5, Examples: 128, EpochExamples: 128, EpochSeconds: 0.5,
                Alive: 2, LearningRate: 0.01));
            now = now.AddSeconds(1.5);
            log.Step(new StepCompleted(2, 3, 10, 0.75, 128, 512, 0.25, 2, 0.1));
            log.Epoch(new EpochMetrics(2, 0.9, 0.7, 0.4, 0.875, 12, 10, 3000, 2, 0.1,
                [new WorkerEpochStats("local-1", 47, 29.5, 35, 33, 0, 0), new WorkerEpochStats("local-2", 47, 28.5, 31, 32, 1, 0)])
            {
                Utilization = 0.8,
            });
        }

        var file = Assert.Single(Directory.GetFiles(dir));
        Assert.StartsWith(TensorBoardLog.FilePrefix, Path.GetFileName(file));
        var events = EventFile.Read(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Equal(1_764_000_000.25, events[0].WallTime);

        var scalars = EventFile.Scalars(events);
        Assert.Equal(
            [("train/loss", 2.5f, 1L), ("train/learning_rate", 0.01f, 1L), ("train/images_per_second", 256f, 1L),
             ("train/loss", 0.75f, 14L), ("train/learning_rate", 0.1f, 14L), ("train/images_per_second", 2048f, 14L)],
            scalars.Take(6).Select(s => (s.Tag, s.Value, s.Step)));
        Assert.Equal(1_764_000_001.75, scalars[3].WallTime);
        var epoch = scalars.Skip(6).ToDictionary(s => s.Tag);
        Assert.All(epoch.Values, s => Assert.Equal(2, s.Step));
        Assert.Equal(0.875f, epoch["epoch/test_accuracy"].Value);
        Assert.Equal(0.4f, epoch["epoch/test_loss"].Value);
        Assert.Equal(0.9f, epoch["epoch/train_loss"].Value);
        Assert.Equal(0.7f, epoch["epoch/train_accuracy"].Value);
        Assert.Equal(3000f, epoch["epoch/images_per_second"].Value);
        Assert.Equal(0.8f, epoch["epoch/utilization"].Value);
        Assert.Equal(29.5f, epoch["workers/local-1/compute_ms"].Value);
        Assert.Equal(31f, epoch["workers/local-2/compute_p95_ms"].Value);
        Assert.Equal(32f, epoch["workers/local-2/round_trip_ms"].Value);
        Assert.Equal(47f, epoch["workers/local-1/units"].Value);
    }

    [Fact]
    public void A_log_that_cannot_be_written_fails_once_naming_the_path()
    {
        var notADirectory = Path.Combine(Repository.NewTempDirectory("tensorboard-bad"), "file");
        File.WriteAllText(notADirectory, "in the way");
        var failures = new List<string>();
        using (var log = new TensorBoardLog(notADirectory, failures.Add))
        {
            log.Step(new StepCompleted(1, 0, 10, 2.5, 128, 128, 0.5, 2, 0.01));
            log.Scalar("train/loss", 1, 2);
        }
        var failure = Assert.Single(failures);
        // The directory cannot be created where a file is (EEXIST).
        Assert.Equal($"{notADirectory}: cannot write: File exists", failure);
        Assert.Equal("in the way", File.ReadAllText(notADirectory, Encoding.UTF8));
    }
}
