using DataParallel.Coordinator.Training;
using DataParallel.Shared.Data;
using DataParallel.Shared.Settings;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class DataDigestTests
{
    // Computed with Python's hashlib from the IDX files' payloads (headers skipped): for each of train images, train
    // labels, test images, test labels, its length as 8 bytes little-endian, then its bytes.
    private const string AllOfMnist = "979e081520cdfe92cbc9643ead5b074180ca1113bbc6dc45cf9621bbecaef15c";
    private const string First3840And500 = "64d1ad1ce9ed534f8092ec4952ccfe9060959fb674f7234fb947e946eed131fa";

    [Fact]
    public void The_digest_is_of_the_images_and_labels_used()
    {
        Assert.Equal(AllOfMnist, DataDigest.Of(Repository.Train, Repository.Test));
        Assert.Equal(First3840And500, DataDigest.Of(Repository.Train.Take(3840), Repository.Test.Take(500)));
    }

    [Fact]
    public void One_changed_pixel_or_label_or_a_byte_moved_between_the_parts_changes_it()
    {
        var train = Repository.Train.Take(100);
        var test = Repository.Test.Take(10);
        var original = DataDigest.Of(train, test);

        var pixel = (byte[])train.Images.Clone();
        pixel[1234] ^= 1;
        Assert.NotEqual(original, DataDigest.Of(new MnistDataset(pixel, train.Labels), test));
        var label = (byte[])test.Labels.Clone();
        label[3] = (byte)((label[3] + 1) % 10);
        Assert.NotEqual(original, DataDigest.Of(train, new MnistDataset(test.Images, label)));
        // The same bytes, split differently between training and test images.
        var moved = new MnistDataset([.. train.Images, .. test.Images.AsSpan(0, MnistDataset.ImageBytes)], [.. train.Labels, test.Labels[0]]);
        Assert.NotEqual(original, DataDigest.Of(moved, new MnistDataset(test.Images[MnistDataset.ImageBytes..], test.Labels[1..])));
    }

    [Fact]
    public void A_checkpoint_of_other_data_is_refused_and_one_without_a_digest_accepted()
    {
        var settings = new TrainSettings { Epochs = 1, LimitTrain = 300, Data = "/data/a" };
        var run = TrainingRun.Create(settings, Repository.Train.Take(300), Repository.Test.Take(100), 1);
        var checkpoint = run.Snapshot("run", 0, 0, []);
        Assert.Equal(DataDigest.Of(Repository.Train.Take(300), Repository.Test.Take(100)), checkpoint.DataSha256);
        Assert.Equal(checkpoint.DataSha256, CheckpointFile.Decode(CheckpointFile.Encode(checkpoint), "x").DataSha256);

        var moved = TrainingRun.Create(settings with { Data = "/data/b" }, Repository.Train.Take(300), Repository.Test.Take(100), 1);
        moved.Restore(checkpoint);
        var next300 = new MnistDataset(Repository.Train.Images[(300 * MnistDataset.ImageBytes)..(600 * MnistDataset.ImageBytes)],
            Repository.Train.Labels[300..600]);
        var other = TrainingRun.Create(settings with { Data = "/data/c" }, next300, Repository.Test.Take(100), 1);
        var e = Assert.Throws<ArgumentException>(() => other.Restore(checkpoint));
        Assert.StartsWith("the data in /data/c is not the data this run started with", e.Message);
        other.Restore(checkpoint with { DataSha256 = null });
    }
}
