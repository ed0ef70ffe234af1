using System.Diagnostics;

namespace DataParallel.Bench;

/// <summary>One sitting: a discarded warm-up, then every configuration once per round, round after round.</summary>
public static class Benchmark
{
    // Numbers format the same everywhere: InvariantGlobalization is on (Directory.Build.props).

    public static int Run(BenchOptions options, TextWriter output, TextWriter error)
    {
        if (!File.Exists(options.Coordinator))
        {
            error.WriteLine($"error: {options.Coordinator} is missing: build first (dotnet build -c Release)");
            return 1;
        }
        var (pytorchVersion, absent) = ProbePyTorch(options.Python);
        if (absent is not null) error.WriteLine($"PyTorch rows absent: {absent}");
        var configurations = Configuration.All
            .Where(c => options.Only.Count == 0 || options.Only.Contains(c.Key))
            .ToList();
        var runnable = configurations.Where(c => c.Trainer == Trainer.Ours || absent is null).ToList();

        var machine = Machine.Describe();
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var loadBefore = Machine.LoadAverage();
        var cpuBefore = CpuShare.Sample();
        output.WriteLine($"{machine.Summary}; load average {loadBefore}");
        output.WriteLine($"{runnable.Count} configurations x {options.Repetitions} repetitions, {options.Images:N0} images, "
            + $"{options.WarmupEpochs} warm-up epoch(s) each");

        var scratch = Path.Combine(Path.GetTempPath(), $"dataparallel-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(scratch);
        var runs = new List<Measurement>();
        DefaultRunResult? defaultRunResult = null;
        try
        {
            // Page cache, JIT caches, first-touch of the native libraries: paid here, not by the first configuration.
            var warm = new Runners(options with { Images = Math.Min(options.Images, 1280), WarmupEpochs = 0 }, scratch);
            foreach (var c in runnable.Where(c => c.Key is Configuration.OursTwoProcesses or Configuration.PyTorchTwoThreads))
                warm.Run(c, 0);

            var runners = new Runners(options, scratch);
            for (var round = 1; round <= options.Repetitions; round++)
                foreach (var c in runnable)
                {
                    var m = runners.Run(c, round);
                    runs.Add(m);
                    output.WriteLine(m.Error is null
                        ? ($"[{round}/{options.Repetitions}] {c.Key,-12} {m.ImagesPerSecond,8:N0} img/s  "
                            + $"eval {m.EvalSeconds:F2} s  load {Machine.LoadAverage()}")
                        : $"[{round}/{options.Repetitions}] {c.Key,-12} failed: {m.Error}");
                }
            if (options.DefaultRun)
            {
                output.WriteLine("the default train, once (15 epochs)...");
                defaultRunResult = DefaultRunResult.Run(options, scratch);
            }
        }
        finally
        {
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { }
        }

        Directory.CreateDirectory(options.Results);
        var name = UniqueName(options.Results, $"{started:yyyy-MM-dd}-{machine.Slug}");
        var report = new Report(options, machine, loadBefore, Machine.LoadAverage(), started, clock.Elapsed, configurations, runs,
            absent, pytorchVersion, defaultRunResult, name + ".png") { OthersCpuShare = CpuShare.Others(cpuBefore, CpuShare.Sample()) };
        File.WriteAllBytes(Path.Combine(options.Results, name + ".png"),
            BarChart.Render($"MNIST seed model, {options.Images:N0} images, batch {options.BatchSize}: {machine.Model}, {machine.Cpus} CPUs",
                report.ChartRows()));
        var markdown = Path.Combine(options.Results, name + ".md");
        File.WriteAllText(markdown, report.Markdown());
        output.WriteLine($"wrote {markdown}");
        return runs.Any(r => r.Error is not null) ? 2 : 0;
    }

    /// <summary>The PyTorch version, or why there is none (with how to install it).</summary>
    private static (string? Version, string? Absent) ProbePyTorch(string python)
    {
        var version = Machine.Run(python, "-c \"import torch; print(torch.__version__)\"")?.Trim();
        return version is { Length: > 0 }
            ? (version, null)
            : (null, $"`{python} -c 'import torch'` failed; install it with `apt-get install python3-torch` (Debian) and run again");
    }

    private static string UniqueName(string directory, string name)
    {
        var candidate = name;
        for (var i = 2; File.Exists(Path.Combine(directory, candidate + ".md")); i++) candidate = $"{name}-{i}";
        return candidate;
    }
}
