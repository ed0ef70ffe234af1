// Times one model replica's forward and backward per micro-batch, and the evaluation of the test set, on real
// MNIST, and prints a SHA-256 of every gradient and buffer it produced: equal hashes mean a change kept the bits.
//   bench/ReplicaBench/bin/Release/net10.0/ReplicaBench [units] [threads] [micro-batch] [augment 0|1] [layout channels-last|nchw]
// EVAL_REPEAT=N evaluates the test set N times (the time printed is for all N); PIN_CPU=K pins the process to core K;
// PARAMS=model.safetensors starts from a trained model's parameters and buffers instead of the seed's.
using System.Diagnostics;
using System.Security.Cryptography;
using DataParallel.Shared.Data;
using DataParallel.Shared.Model;
using DataParallel.Shared.Native;
using DataParallel.Shared.Training;
using TorchSharp;
using TorchSharp.PyBridge;

StartupEnvironment.EnsureApplied();
var units = args.Length > 0 ? int.Parse(args[0]) : 300;
var threads = args.Length > 1 ? int.Parse(args[1]) : 1;
var micro = args.Length > 2 ? int.Parse(args[2]) : 64;
var augment = args.Length > 3 ? args[3] == "1" : true;
var channelsLast = args.Length <= 4 || args[4] != "nchw";
var data = Environment.GetEnvironmentVariable("MNIST") ?? "data/mnist";

TorchRuntime.Configure(threads);
if (Environment.GetEnvironmentVariable("PIN_CPU") is { } cpu) CpuAffinity.PinProcess([int.Parse(cpu)]);
var train = MnistDataset.Load(data, MnistSplit.Train);
var test = MnistDataset.Load(data, MnistSplit.Test);
var initSeed = SeedSequence.ForTorch(SeedSequence.Derive(1, SeedPurpose.Init));
using var replica = SeedNet.Seeded(initSeed, () => new ModelReplica(channelsLast: channelsLast));
if (Environment.GetEnvironmentVariable("PARAMS") is { } trained)
{
    try
    {
        using var stream = File.OpenRead(trained);
        replica.Model.load_safetensors(stream, strict: true);
    }
    catch (Exception e)
    {
        Console.Error.WriteLine($"error: PARAMS={trained}: cannot load it into this model: {e.Message.Split('\n')[0]}");
        return 2;
    }
}
var parameters = replica.ReadParameters();
var buffers = replica.ReadBuffers();
var augmentation = augment ? Augmentation.Light : Augmentation.None;
var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
var times = new List<double>();
var warmup = Math.Min(20, units / 5);
var total = Stopwatch.StartNew();
var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
var segmentCpu = cpuBefore;
for (var u = 0; u < units + warmup; u++)
{
    if (u % 2 == 0) replica.Load(parameters, buffers);
    var indices = Enumerable.Range(0, micro).Select(i => (u * micro + i) % train.Count).ToArray();
    var (images, labels) = train.Gather(indices);
    var watch = Stopwatch.StartNew();
    var result = replica.ComputeGradients(buffers, images, labels,
        SeedSequence.Derive(1, SeedPurpose.Augment, 0, u), SeedSequence.Derive(1, SeedPurpose.Dropout, 0, u), augmentation);
    var ms = watch.Elapsed.TotalMilliseconds;
    if (u >= warmup) times.Add(ms);
    if (u >= warmup && (u - warmup + 1) % Math.Max(1, units / 10) == 0)
    {
        var now = Process.GetCurrentProcess();
        Console.Error.WriteLine($"  after {u - warmup + 1} units: last {units / 10} mean {times.TakeLast(units / 10).Average():F2} ms, "
            + $"cpu {(now.TotalProcessorTime - segmentCpu).TotalMilliseconds / (units / 10):F2} ms/unit, rss {now.WorkingSet64 >> 20} MB, "
            + $"managed {GC.GetTotalMemory(false) >> 20} MB, gen0/1/2 {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
        segmentCpu = now.TotalProcessorTime;
    }
    hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.Gradients.AsSpan()));
    hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.Buffers.AsSpan()));
    hash.AppendData(BitConverter.GetBytes(result.Loss));
}
var trainSeconds = total.Elapsed.TotalSeconds;
var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds / (units + warmup);
var sorted = times.Order().ToArray();
var evalWatch = Stopwatch.StartNew();
double lossSum = 0;
var correct = 0;
var evalRepeat = int.Parse(Environment.GetEnvironmentVariable("EVAL_REPEAT") ?? "1");
for (var rep = 0; rep < evalRepeat; rep++)
for (var start = 0; start < test.Count; start += 500)
{
    var idx = Enumerable.Range(start, Math.Min(500, test.Count - start)).ToArray();
    var (images, labels) = test.Gather(idx);
    var r = replica.Evaluate(images, labels);
    lossSum += r.LossSum;
    correct += r.Correct;
}
var evalSeconds = evalWatch.Elapsed.TotalSeconds;
var firstTenth = times.Take(times.Count / 10).Average();
var lastTenth = times.Skip(times.Count - times.Count / 10).Average();
var layout = channelsLast ? "channels-last" : "nchw";
Console.WriteLine($"units {units} x {micro} images, {threads} thread(s), augment {augment}, {layout}: mean {times.Average():F2} ms, "
    + $"median {sorted[sorted.Length / 2]:F2}, p95 {sorted[(int)(sorted.Length * 0.95)]:F2}, "
    + $"first/last tenth {firstTenth:F2}/{lastTenth:F2} ms = {micro * 1000 / times.Average():F0} img/s; process CPU {cpuMs:F2} ms per unit");
Console.WriteLine($"evaluation of {test.Count} test images: {evalSeconds:F3} s (loss sum {lossSum:R}, {correct} correct); "
    + $"rss {Environment.WorkingSet / 1048576} MB; gc gen0 {GC.CollectionCount(0)} gen2 {GC.CollectionCount(2)}");
Console.WriteLine($"sha256 {Convert.ToHexStringLower(hash.GetHashAndReset())}");
return 0;
