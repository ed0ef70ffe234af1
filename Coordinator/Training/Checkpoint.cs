using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DataParallel.Coordinator.Reporting;
using DataParallel.Shared.IO;
using DataParallel.Shared.Serialization;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Training;

/// <summary>
/// Everything needed to continue a run exactly: the run's settings, the (epoch, step) cursor, parameters,
/// buffers, optimizer state and the metrics so far. The learning-rate schedule's position and the data
/// order follow from the cursor, so resuming ends with the same parameters as not stopping.
/// </summary>
public sealed record Checkpoint(
    string RunId,
    TrainSettings Settings,
    int Replicas,
    string Fingerprint,
    int Epoch,
    int Step,
    string Optimizer,
    long OptimizerSteps,
    float[][] OptimizerState,
    float[] Parameters,
    float[] Buffers,
    double EpochLossSum,
    int EpochCorrect,
    int EpochExamples,
    double EpochTrainSeconds,
    double RunSeconds,
    IReadOnlyList<EpochMetrics> History)
{
    /// <summary>
    /// The <see cref="Shared.Data.DataDigest"/> of the data the run trains on;
    /// null in checkpoints from before it was recorded (not checked then).
    /// </summary>
    public string? DataSha256 { get; init; }
}

public sealed class CheckpointException(string path, string problem) : Exception($"{path}: {problem}");

/// <summary>
/// The checkpoint file format: a magic number, a JSON header with the scalars, the vectors as raw
/// little-endian floats, and a SHA-256 of all of it at the end, so truncation or a flipped bit is caught.
/// </summary>
public static class CheckpointFile
{
    private static readonly byte[] Magic = "DPCKPT01"u8.ToArray();
    private const int HashLength = 32;

    public static byte[] Encode(Checkpoint c)
    {
        var header = c with { OptimizerState = [], Parameters = [], Buffers = [] };
        var w = new WireWriter(64 * 1024 + 4 * (c.Parameters.Length * (1 + c.OptimizerState.Length) + c.Buffers.Length));
        w.Bytes(Magic);
        w.Bytes(JsonSerializer.SerializeToUtf8Bytes(header, TrainSettings.Json));
        w.Floats(c.Parameters);
        w.Floats(c.Buffers);
        w.Int32(c.OptimizerState.Length);
        foreach (var v in c.OptimizerState) w.Floats(v);
        var body = w.ToArray();
        return [.. body, .. SHA256.HashData(body)];
    }

    public static Checkpoint Decode(byte[] bytes, string path)
    {
        if (bytes.Length < Magic.Length + 4 + HashLength)
            throw new CheckpointException(path, $"truncated ({bytes.Length} bytes)");
        var body = bytes.AsSpan(0, bytes.Length - HashLength);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - HashLength)))
            throw new CheckpointException(path, "checksum mismatch (truncated or corrupted)");
        try
        {
            var r = new WireReader(body);
            if (!r.Bytes().AsSpan().SequenceEqual(Magic))
                throw new CheckpointException(path, "not a checkpoint of this trainer (wrong magic number)");
            using var json = JsonDocument.Parse(r.Bytes());
            var header = json.Deserialize<Checkpoint>(TrainSettings.Json) ?? throw new CheckpointException(path, "empty header");
            // Written before runs had a layout: they computed in NCHW, and must go on so to end with the same bits.
            if (!(json.RootElement.TryGetProperty("settings", out var settings) && settings.TryGetProperty("channels_last", out _)))
                header = header with { Settings = header.Settings with { ChannelsLast = false } };
            var parameters = r.Floats();
            var buffers = r.Floats();
            var state = new float[r.Length(4)][];
            for (var i = 0; i < state.Length; i++) state[i] = r.Floats();
            r.End();
            return header with { Parameters = parameters, Buffers = buffers, OptimizerState = state };
        }
        catch (Exception e) when (e is WireFormatException or JsonException)
        {
            throw new CheckpointException(path, $"unreadable ({e.Message})");
        }
    }
}

/// <summary>
/// A run directory's checkpoints: written atomically (temporary file, flush, rename), the newest two kept,
/// and read back newest first, falling back to the previous one when the newest is damaged.
/// </summary>
public sealed class CheckpointStore(string runDirectory, int keep = 2)
{
    public string Directory { get; } = Path.Combine(runDirectory, "checkpoints");

    /// <summary>Writes the checkpoint, then removes all but the newest <c>keep</c>; a <see cref="FileIoException"/> if it cannot.</summary>
    public string Save(Checkpoint checkpoint)
    {
        AtomicFile.RemoveLeftovers(Directory);
        var path = Path.Combine(Directory, $"checkpoint-e{checkpoint.Epoch:D3}-s{checkpoint.Step:D6}.ckpt");
        AtomicFile.WriteAllBytes(path, CheckpointFile.Encode(checkpoint));
        foreach (var old in Files().Skip(keep))
        {
            try { File.Delete(old); }
            catch (Exception e) when (FileIoException.IsIo(e)) { throw new FileIoException(old, $"cannot remove: {FileIoException.Reason(e)}", e); }
        }
        return path;
    }

    /// <summary>Checkpoint files, newest (highest epoch, then step, compared as numbers: epoch 1000 follows 999) first.</summary>
    public IReadOnlyList<string> Files() =>
        System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetFiles(Directory, "checkpoint-*.ckpt")
                .Select(f => (File: f, Position: Position(Path.GetFileName(f))))
                .Where(f => f.Position is not null)
                .OrderByDescending(f => f.Position)
                .Select(f => f.File)
                .ToList()
            : [];

    private static (long Epoch, long Step)? Position(string name)
    {
        var m = System.Text.RegularExpressions.Regex.Match(name, @"^checkpoint-e(\d+)-s(\d+)\.ckpt$");
        return m.Success && long.TryParse(m.Groups[1].Value, out var e) && long.TryParse(m.Groups[2].Value, out var s) ? (e, s) : null;
    }

    /// <summary>The newest checkpoint that reads back intact; each damaged newer one is reported through <paramref name="warn"/>.</summary>
    public (Checkpoint Checkpoint, string Path) LoadNewest(Action<string> warn)
    {
        var files = Files();
        if (files.Count == 0)
            throw new CheckpointException(runDirectory, $"no checkpoint to resume from ({Directory} has none)");
        foreach (var file in files)
        {
            byte[] bytes;
            // A file that cannot be read (a device error, a denied permission) is not a damaged checkpoint to skip:
            // the older one would silently lose training, and the disk may fail it too.
            try { bytes = File.ReadAllBytes(file); }
            catch (Exception e) when (FileIoException.IsIo(e)) { throw FileIoException.Reading(file, e); }
            try
            {
                return (CheckpointFile.Decode(bytes, file), file);
            }
            catch (CheckpointException e)
            {
                warn($"warning: {e.Message}; trying the previous checkpoint");
            }
        }
        throw new CheckpointException(runDirectory, $"none of the {files.Count} checkpoints in {Directory} is readable");
    }
}
