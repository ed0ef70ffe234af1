using System.Diagnostics;
using System.Text.Json;

namespace DataParallel.Bench;

/// <summary>Runs one configuration once and turns what it printed and wrote into a <see cref="Measurement"/>.</summary>
public sealed class Runners(BenchOptions options, string scratch)
{
    public Measurement Run(Configuration config, int round) => config.Trainer switch
    {
        Trainer.Ours => Ours(config, round),
        _ => PyTorch(config, round),
    };

    private Measurement Ours(Configuration config, int round)
    {
        var outDir = Path.Combine(scratch, $"{config.Key}-{round}");
        var start = new ProcessStartInfo(options.Coordinator) { WorkingDirectory = options.Repository };
        foreach (var arg in OursArguments(outDir).Concat(config.Arguments)) start.ArgumentList.Add(arg);
        var sampler = new StepSampler(options.Epochs, config.Distributed);
        var child = ChildProcess.Run(start, options.RunTimeout, (p, line) => sampler.OnLine(p.Id, line));
        if (child.ExitCode != 0) return Measurement.Failed(config.Key, round, child.Describe());
        try
        {
            var files = RunFiles.Read(outDir);
            var last = files.Epochs[^1];
            var trainSeconds = options.Images / last.ImagesPerSecond;
            var stepSeconds = trainSeconds / options.StepsPerEpoch;
            return new Measurement
            {
                Key = config.Key, Round = round,
                ImagesPerSecond = last.ImagesPerSecond, TrainSeconds = trainSeconds,
                EvalSeconds = last.Seconds - trainSeconds, TestImages = 10_000, TestAccuracy = last.TestAccuracy,
                Sha256 = files.Sha256,
                CpuMsPerStep = sampler.TotalCpuMsPerStep(stepSeconds),
                ComputeMsFirstEpoch = files.ComputeMs(1), ComputeMsLastEpoch = files.ComputeMs(last.Number),
                P95OverMean = files.P95OverMean(last.Number),
                UnitOverheadMs = files.RoundTripMs(last.Number) - files.ComputeMs(last.Number),
                WorkerIdleMsPerStep = files.IdleMsPerStep(last.Number, trainSeconds, options.StepsPerEpoch),
                BytesPerStep = sampler.BytesPerStep(stepSeconds),
                CoordinatorCpuMsPerStep = config.Distributed ? sampler.CoordinatorCpuMsPerStep(stepSeconds) : null,
                WorkerCpuMsPerStep = sampler.WorkerCpuMsPerStep(stepSeconds),
                WorkerRssMbFirst = sampler.RssMb.Count > 0 ? sampler.RssMb[0] : null,
                WorkerRssMbMax = sampler.RssMb.Count > 0 ? sampler.RssMb.Max() : null,
                WorkerRssMbLast = sampler.RssMb.Count > 0 ? sampler.RssMb[^1] : null,
                SampledSeconds = sampler.Seconds,
            };
        }
        catch (Exception e) when (e is IOException or FormatException or KeyNotFoundException or JsonException or IndexOutOfRangeException)
        {
            return Measurement.Failed(config.Key, round, $"unreadable run files in {outDir}: {e.Message}");
        }
        finally
        {
            try { Directory.Delete(outDir, recursive: true); } catch (IOException) { }
        }
    }

    private IEnumerable<string> OursArguments(string outDir)
    {
        yield return "train";
        foreach (var arg in new[] { "--data", options.Data, "--epochs", $"{options.Epochs}", "--limit-train", $"{options.Images}",
                     "--batch-size", $"{options.BatchSize}", "--log-every", $"{options.LogEvery}", "--out", outDir })
            yield return arg;
        if (!options.Augment) yield return "--no-augment";
    }

    private Measurement PyTorch(Configuration config, int round)
    {
        var start = new ProcessStartInfo(options.Python) { WorkingDirectory = options.Repository };
        foreach (var arg in new[] { options.PyTorchScript, "--data", options.Data, "--images", $"{options.Images}", "--epochs", $"{options.Epochs}",
                     "--batch", $"{options.BatchSize}", options.Augment ? "--augment" : "--no-augment" }.Concat(config.Arguments))
            start.ArgumentList.Add(arg);
        var child = ChildProcess.Run(start, options.RunTimeout);
        if (child.ExitCode != 0) return Measurement.Failed(config.Key, round, child.Describe());
        var line = child.Output.LastOrDefault(l => l.StartsWith('{'));
        if (line is null) return Measurement.Failed(config.Key, round, "pytorch_ref.py printed no result");
        using var json = JsonDocument.Parse(line);
        var r = json.RootElement;
        return new Measurement
        {
            Key = config.Key, Round = round,
            ImagesPerSecond = r.GetProperty("images_per_second").GetDouble(),
            TrainSeconds = r.GetProperty("train_seconds").GetDouble(),
            EvalSeconds = r.GetProperty("eval_seconds").GetDouble(),
            TestImages = r.GetProperty("test_images").GetInt32(),
            TestAccuracy = r.GetProperty("test_accuracy").GetDouble(),
            CpuMsPerStep = r.TryGetProperty("cpu_ms_per_step", out var cpu) ? cpu.GetDouble() : null,
        };
    }
}
