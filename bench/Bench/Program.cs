// The benchmark: our trainer against PyTorch on the same machine, configurations alternating, medians.
//   bench/run.sh                         builds, fetches MNIST, runs everything (about 15 minutes on 2 cores)
//   bench/run.sh --reps 2 --images 2560  a quick check
//   bench/run.sh --help                  every option
using System.CommandLine;
using DataParallel.Bench;

var defaults = new BenchOptions { Repository = "" };
var reps = new Option<int>("--reps") { Description = "Repetitions of each configuration", DefaultValueFactory = _ => defaults.Repetitions };
var images = new Option<int>("--images")
{
    Description = "Training images per epoch (the first N of MNIST's training set)",
    DefaultValueFactory = _ => defaults.Images,
};
var warmup = new Option<int>("--warmup-epochs")
{
    Description = "Epochs run and discarded before the measured one, in every run",
    DefaultValueFactory = _ => defaults.WarmupEpochs,
};
var noAugment = new Option<bool>("--no-augment") { Description = "Turn augmentation off on both sides (default: on, as `train`)" };
var only = new Option<string[]>("--only")
{
    Description = "Run only these configurations: " + string.Join(", ", Configuration.All.Select(c => c.Key)),
    AllowMultipleArgumentsPerToken = true,
};
var python = new Option<string>("--python") { Description = "The Python that has PyTorch", DefaultValueFactory = _ => defaults.Python };
var defaultRun = new Option<bool>("--default-run")
{
    Description = "Also run the default `train` once (15 epochs, ~3-5 min): time to 99.5%, drift, RSS per epoch",
};
var repository = new Option<string>("--repository") { Description = "The repository's root (default: found from this program's location)" };
var results = new Option<string?>("--results") { Description = "Directory for the results file and chart (default: bench/results)" };
reps.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--reps must be at least 1"); });
images.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 128) r.AddError("--images must be at least 128 (one global batch)"); });
warmup.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--warmup-epochs must not be negative"); });
only.Validators.Add(r =>
{
    foreach (var key in r.GetValueOrDefault<string[]>() ?? [])
        if (Configuration.All.All(c => c.Key != key))
            r.AddError($"--only: unknown configuration '{key}' (known: {string.Join(", ", Configuration.All.Select(c => c.Key))})");
});

var root = new RootCommand("Benchmark: our trainer against PyTorch, alternating configurations; writes bench/results/<date>-<machine>.md and .png")
{
    reps, images, warmup, noAugment, only, python, defaultRun, repository, results,
};
root.SetAction(parse =>
{
    var repo = parse.GetValue(repository) ?? FindRepository();
    if (repo is null || !File.Exists(Path.Combine(repo, "DataParallel.sln")))
    {
        Console.Error.WriteLine("error: --repository: no DataParallel.sln found; give the repository's root");
        return 1;
    }
    var options = new BenchOptions
    {
        Repository = Path.GetFullPath(repo),
        Repetitions = parse.GetValue(reps),
        Images = parse.GetValue(images),
        WarmupEpochs = parse.GetValue(warmup),
        Augment = !parse.GetValue(noAugment),
        Only = parse.GetValue(only) ?? [],
        Python = parse.GetValue(python)!,
        DefaultRun = parse.GetValue(defaultRun),
        Results = parse.GetValue(results) ?? Path.Combine(repo, "bench", "results"),
        CommandLine = Environment.GetEnvironmentVariable("BENCH_COMMAND") ?? "bench/run.sh " + string.Join(' ', args),
    };
    return Benchmark.Run(options, Console.Out, Console.Error);
});
return await root.Parse(args).InvokeAsync();

static string? FindRepository()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "DataParallel.sln"))) return dir.FullName;
    return null;
}
