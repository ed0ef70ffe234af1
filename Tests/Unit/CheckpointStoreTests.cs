using DataParallel.Coordinator.Training;
using DataParallel.Shared.IO;
using DataParallel.Shared.Settings;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class CheckpointStoreTests
{
    private readonly string _dir = Repository.NewTempDirectory("checkpoints");

    private static Checkpoint At(int epoch, int step, float value = 1f) => new(
        "run", new TrainSettings(), 1, "fingerprint", epoch, step, "nesterov", 3, [[value, value]], [value, 2f, 3f], [4f], 1.5, 7, 9, 2.5, 10, []);

    [Fact]
    public void Saves_keep_the_newest_two_and_read_back_exactly()
    {
        var store = new CheckpointStore(_dir);
        store.Save(At(1, 0));
        store.Save(At(1, 4));
        store.Save(At(2, 0, value: 5f));
        Assert.Equal(["checkpoint-e002-s000000.ckpt", "checkpoint-e001-s000004.ckpt"], store.Files().Select(Path.GetFileName));
        var (back, path) = store.LoadNewest(_ => throw new Xunit.Sdk.XunitException("nothing is damaged"));
        Assert.EndsWith("checkpoint-e002-s000000.ckpt", path);
        Assert.Equal((2, 0, 5f), (back.Epoch, back.Step, back.Parameters[0]));
        Assert.Equal([5f, 5f], back.OptimizerState[0]);
        Assert.Equal((1.5, 7, 9), (back.EpochLossSum, back.EpochCorrect, back.EpochExamples));
    }

    [Fact]
    public void The_layout_is_kept_and_a_checkpoint_from_before_layouts_existed_resumes_in_nchw()
    {
        Assert.True(CheckpointFile.Decode(CheckpointFile.Encode(At(1, 0)), "x").Settings.ChannelsLast);
        var nchw = At(1, 0) with { Settings = new TrainSettings { ChannelsLast = false } };
        Assert.False(CheckpointFile.Decode(CheckpointFile.Encode(nchw), "x").Settings.ChannelsLast);

        // The same checkpoint as the previous version wrote it: its settings without "channels_last".
        var old = WithoutLayout(CheckpointFile.Encode(At(1, 0)));
        Assert.False(CheckpointFile.Decode(old, "x").Settings.ChannelsLast);
        Assert.Equal(At(1, 0).Parameters, CheckpointFile.Decode(old, "x").Parameters);
    }

    /// <summary>The checkpoint with "channels_last": true removed from its JSON header (length prefix and checksum fixed).</summary>
    private static byte[] WithoutLayout(byte[] bytes)
    {
        var magicLength = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes);
        var headerAt = 4 + magicLength;
        var headerLength = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(headerAt));
        var header = System.Text.Encoding.UTF8.GetString(bytes, headerAt + 4, headerLength);
        var stripped = System.Text.Encoding.UTF8.GetBytes(
            System.Text.RegularExpressions.Regex.Replace(header, @",\s*""channels_last"": true", ""));
        Assert.True(stripped.Length < headerLength, header);
        var body = new List<byte>();
        body.AddRange(bytes.AsSpan(0, headerAt).ToArray());
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, stripped.Length);
        body.AddRange(length);
        body.AddRange(stripped);
        body.AddRange(bytes.AsSpan(headerAt + 4 + headerLength, bytes.Length - 32 - (headerAt + 4 + headerLength)).ToArray());
        return [.. body, .. System.Security.Cryptography.SHA256.HashData(body.ToArray())];
    }

    [Fact]
    public void Epochs_past_999_sort_as_numbers()
    {
        var store = new CheckpointStore(_dir);
        store.Save(At(999, 468));
        store.Save(At(1000, 0));
        Assert.Equal(["checkpoint-e1000-s000000.ckpt", "checkpoint-e999-s000468.ckpt"], store.Files().Select(Path.GetFileName));
        Assert.Equal(1000, store.LoadNewest(_ => { }).Checkpoint.Epoch);
    }

    [Fact]
    public void A_damaged_newest_checkpoint_is_reported_and_the_previous_one_used()
    {
        var store = new CheckpointStore(_dir);
        store.Save(At(1, 0));
        var newest = store.Save(At(1, 8));
        var bytes = File.ReadAllBytes(newest);
        bytes[^40] ^= 1;
        File.WriteAllBytes(newest, bytes);
        var warnings = new List<string>();
        var (back, _) = store.LoadNewest(warnings.Add);
        Assert.Equal((1, 0), (back.Epoch, back.Step));
        Assert.Contains("checksum mismatch", Assert.Single(warnings));
    }

    [Fact]
    public void Temporary_files_of_a_killed_writer_are_removed_and_a_live_writers_are_kept()
    {
        var store = new CheckpointStore(_dir);
        Directory.CreateDirectory(store.Directory);
        var dead = Path.Combine(store.Directory, $".checkpoint-e001-s000004.ckpt.{int.MaxValue - 1}.{Guid.NewGuid():N}.tmp");
        var live = Path.Combine(store.Directory, $".checkpoint-e001-s000004.ckpt.1.{Guid.NewGuid():N}.tmp"); // pid 1 is alive
        File.WriteAllText(dead, "half");
        File.WriteAllText(live, "half");
        Assert.Equal(1, AtomicFile.RemoveLeftovers(store.Directory));
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live));
        store.Save(At(1, 0));
        Assert.Equal(["checkpoint-e001-s000000.ckpt"], store.Files().Select(Path.GetFileName));
    }
}
