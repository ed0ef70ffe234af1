using System.Buffers.Binary;
using DataParallel.Shared.IO;
using Google.Protobuf;
using Tensorboard;

namespace DataParallel.Coordinator.Reporting;

/// <summary>
/// A TensorBoard event file in the run directory, so that `tensorboard --logdir runs` shows every run. Each record
/// is what TensorFlow writes: the length (uint64, little-endian), its masked CRC-32C, an <c>Event</c> protobuf
/// (TorchSharp's generated class), and the masked CRC-32C of that. Written here rather than with TorchSharp 0.107's
/// SummaryWriter, which stamps its first event with DateTime.Ticks instead of seconds (TensorBoard's relative-time
/// axis then starts millennia off), rounds wall times to whole seconds and reopens the file for every value.
/// Opened at the first value; a resumed run adds a second file, which TensorBoard reads with the first.
/// A file that cannot be written is reported once through <c>fail</c> (one line: the path and the reason) and
/// nothing more is written to it: its owner stops the run rather than go on with events missing.
/// </summary>
public sealed class TensorBoardLog(string directory, Action<string> fail, Func<DateTimeOffset>? clock = null) : IDisposable
{
    public const string FilePrefix = "events.out.tfevents.";
    private readonly Func<DateTimeOffset> _clock = clock ?? (() => DateTimeOffset.UtcNow);
    private FileStream? _file;
    private string? _path;
    private bool _failed;

    public string? Path => _file?.Name;

    /// <summary>Per optimizer step (x axis: steps since the start): loss, learning rate, images per second so far this epoch.</summary>
    public void Step(StepCompleted s)
    {
        var step = (long)(s.Epoch - 1) * s.StepsPerEpoch + s.Step + 1;
        Scalar("train/loss", s.Loss, step);
        Scalar("train/learning_rate", s.LearningRate, step);
        if (s.EpochSeconds > 0) Scalar("train/images_per_second", s.EpochExamples / s.EpochSeconds, step);
        Flush();
    }

    /// <summary>Per epoch (x axis: epoch): the metrics of metrics.csv, and each worker's compute and round-trip times.</summary>
    public void Epoch(EpochMetrics m)
    {
        Scalar("epoch/train_loss", m.TrainLoss, m.Epoch);
        Scalar("epoch/train_accuracy", m.TrainAccuracy, m.Epoch);
        Scalar("epoch/test_loss", m.TestLoss, m.Epoch);
        Scalar("epoch/test_accuracy", m.TestAccuracy, m.Epoch);
        Scalar("epoch/images_per_second", m.ImagesPerSecond, m.Epoch);
        Scalar("epoch/seconds", m.Seconds, m.Epoch);
        Scalar("epoch/utilization", m.Utilization, m.Epoch);
        Scalar("epoch/workers", m.Workers, m.Epoch);
        foreach (var w in m.WorkerStats)
        {
            Scalar($"workers/{w.WorkerId}/compute_ms", w.MeanMilliseconds, m.Epoch);
            Scalar($"workers/{w.WorkerId}/compute_p95_ms", w.P95Milliseconds, m.Epoch);
            Scalar($"workers/{w.WorkerId}/round_trip_ms", w.MeanRoundTripMilliseconds, m.Epoch);
            Scalar($"workers/{w.WorkerId}/units", w.Units, m.Epoch);
        }
        Flush();
    }

    public void Scalar(string tag, double value, long step)
    {
        var summary = new Summary();
        summary.Value.Add(new Summary.Types.Value { Tag = tag, SimpleValue = (float)value });
        Write(new Event { WallTime = Now(), Step = step, Summary = summary });
    }

    /// <summary>Hands what was written to the operating system, so TensorBoard sees it while the run goes on.</summary>
    public void Flush() => Guard(() => _file?.Flush());

    public void Dispose()
    {
        Guard(() => _file?.Dispose());
        _file = null;
    }

    private double Now() => _clock().ToUnixTimeMilliseconds() / 1000.0;

    private void Write(Event record) => Guard(() =>
    {
        if (_file is null)
        {
            Directory.CreateDirectory(directory);
            var name = $"{FilePrefix}{_clock().ToUnixTimeSeconds()}.{Environment.MachineName}.{Environment.ProcessId}"
                + $".{Guid.NewGuid().ToString("N")[..8]}";
            _file = new FileStream(_path = System.IO.Path.Combine(directory, name), FileMode.CreateNew, FileAccess.Write, FileShare.Read);
            Append(new Event { WallTime = Now(), FileVersion = "brain.Event:2" });
        }
        Append(record);
    });

    private void Guard(Action write)
    {
        if (_failed) return;
        try
        {
            write();
        }
        catch (Exception e) when (FileIoException.IsIo(e))
        {
            _failed = true;
            fail(FileIoException.Writing(_path ?? directory, e).Message);
        }
    }

    private void Append(Event record)
    {
        var body = record.ToByteArray();
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.Masked(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Crc32C.Masked(body));
        _file!.Write(header);
        _file.Write(body);
        _file.Write(footer);
    }
}
