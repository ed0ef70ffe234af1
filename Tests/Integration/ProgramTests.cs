using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

[Collection(ProcessCollection.Name)]
public sealed class ProgramTests
{
    [Fact]
    public void Summary_prints_the_seed_models_table()
    {
        var (code, stdout, _) = ProgramProcess.Run("Coordinator", ["summary"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, code);
        Assert.Contains("Total params: 13,032", stdout);
        Assert.Matches(@"Conv2d-1\s+\[-1, 16, 28, 28\]\s+160", stdout);
        Assert.Matches(@"Linear-28\s+\[-1, 10\]\s+910", stdout);
    }

    [Fact]
    public void Started_processes_run_with_the_start_up_settings_in_effect()
    {
        // A worker with nobody to join stays up long enough to be inspected; it was started without the variable.
        using var worker = ProgramProcess.Start("Worker", ["--seed", "127.0.0.1:9", "--rejoin-timeout", "60"]);
        var environ = "";
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !environ.Contains("mmap_threshold"))
        {
            Thread.Sleep(100);
            try { environ = File.ReadAllText($"/proc/{worker.Id}/environ"); } catch (IOException) { }
        }
        var variables = environ.Split('\0');
        // glibc parses GLIBC_TUNABLES in place at start-up, cutting the string at each ':', so the process's
        // environment shows the first tunable only: proof that glibc read the setting when the process started.
        Assert.Contains("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296", variables);
        Assert.Contains("DOTNET_EnableWriteXorExecute=0", variables);
        Assert.False(worker.Process.HasExited, worker.Stderr);
    }

    [Theory]
    [InlineData(new[] { "--epochs", "-1" }, "--epochs must be between 1 and 100000")]
    [InlineData(new[] { "--epochs", "2147483647" }, "1 and 100000 (a run's epochs are numbered in its checkpoint and file names), not 2147483647")]
    [InlineData(new[] { "--batch-size", "100", "--micro-batch", "32" }, "--batch-size 100 is not divisible by --micro-batch 32")]
    [InlineData(new[] { "--optimizer", "rmsprop" }, "rmsprop")]
    [InlineData(new[] { "--workers", "0" }, "--workers must be between 1 and 1024, not 0")]
    [InlineData(new[] { "--external", "--workers", "1025" }, "--workers must be between 1 and 1024, not 1025")]
    [InlineData(new[] { "--workers", "100000" }, "--workers 100000: at most ")]
    [InlineData(new[] { "--in-process", "--workers", "100000" }, "--workers 100000: at most ")]
    [InlineData(new[] { "--dropout", "NaN" }, "--dropout must be a number in [0, 1), not NaN")]
    [InlineData(new[] { "--momentum", "5" }, "--momentum must be a number in [0, 1), not 5")]
    [InlineData(new[] { "--lr", "NaN" }, "--lr must be a finite number above 0, not NaN")]
    [InlineData(new[] { "--lr", "Infinity" }, "--lr must be a finite number above 0, not Infinity")]
    [InlineData(new[] { "--weight-decay", "Infinity" }, "--weight-decay must be a finite number of at least 0, not Infinity")]
    [InlineData(new[] { "--worker-timeout", "Infinity" }, "--worker-timeout must be a number in (0, 86400], not Infinity")]
    [InlineData(new[] { "--straggler-timeout", "NaN" }, "--straggler-timeout must be a number in (0, 86400], not NaN")]
    [InlineData(new[] { "--host", "127.0.0.1\" seed-nodes = [\"x" }, "--host: '127.0.0.1\" seed-nodes = [\"x' is not a host name or an IP address")]
    [InlineData(new[] { "--public-host", "my host" }, "--public-host: 'my host' is not a host name or an IP address")]
    [InlineData(new[] { "--log-every", "2000000000" }, "--log-every must be between 0 and 60000")]
    [InlineData(new[] { "--eval-chunk", "2000000000" }, "--eval-chunk must be between 1 and 10000")]
    [InlineData(new[] { "--batch-size", "2000000000" }, "--batch-size must be between 1 and 60000")]
    [InlineData(new[] { "--micro-batch", "32768", "--batch-size", "32768" }, "--micro-batch must be between 1 and 16384")]
    [InlineData(new[] { "--threads-per-worker", "1025" }, "--threads-per-worker must be between 1 and 1024, not 1025")]
    [InlineData(new[] { "--sync", "params", "--batch-size", "60000", "--micro-batch", "60", "--replicas", "1", "--local-steps", "2" },
        "--sync params: a replica round of --local-steps x --batch-size / replicas = 120000 images exceeds 16384")]
    [InlineData(new[] { "--no-such-option" }, "--no-such-option")]
    [InlineData(new[] { "--port", "70000" }, "--port must be between 0 and 65535")]
    [InlineData(new[] { "--host", "0.0.0.0" }, "--host 0.0.0.0: beyond loopback, TLS and a join token are both required")]
    [InlineData(new[] { "--host", "0.0.0.0", "--token", "t" }, "--host 0.0.0.0: beyond loopback, TLS and a join token are both required")]
    [InlineData(new[] { "--no-tls", "--host", "0.0.0.0", "--token", "t" }, "beyond loopback, TLS and a join token are both required")]
    public void Invalid_options_fail_with_one_clear_line(string[] args, string expected)
    {
        var (code, stdout, stderr) = ProgramProcess.Run("Coordinator", ["train", "--data", Repository.MnistDirectory, .. args],
            TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains(expected, stderr + stdout);
        Assert.DoesNotContain("Exception", stderr);
    }

    [Theory]
    [InlineData(new[] { "--rejoin-timeout", "NaN" }, "--rejoin-timeout must be a number in (0, 86400], not NaN")]
    [InlineData(new[] { "--rejoin-timeout", "Infinity" }, "--rejoin-timeout must be a number in (0, 86400], not Infinity")]
    [InlineData(new[] { "--cpus", "0-2000000000" }, "--cpus: '0-2000000000' is not a list of CPU ids below 1024")]
    [InlineData(new[] { "--cpus", "1023" }, "--cpus: CPU 1023 is not online on this machine (online: ")]
    [InlineData(new[] { "--threads", "1025" }, "--threads must be between 1 and 1024, not 1025")]
    [InlineData(new[] { "--host", "127.0.0.1\"" }, "--host: '127.0.0.1\"' is not a host name or an IP address")]
    [InlineData(new[] { "--public-host", "a b" }, "--public-host: 'a b' is not a host name or an IP address")]
    [InlineData(new[] { "--seed", "x\"y:4053" }, "--seed: 'x\"y:4053' is not HOST:PORT")]
    public void Invalid_worker_options_fail_with_one_clear_line(string[] args, string expected)
    {
        // Should an option wrongly pass, the worker gives up on its missing coordinator after 5 s, with exit code 4.
        string[] defaults =
        [
            .. args.Contains("--seed") ? [] : new[] { "--seed", "127.0.0.1:9" },
            .. args.Contains("--rejoin-timeout") ? [] : new[] { "--rejoin-timeout", "5" },
        ];
        var (code, stdout, stderr) = ProgramProcess.Run("Worker", [.. defaults, .. args], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("Exception", stderr + stdout);
    }

    [Fact]
    public void A_corrupt_data_file_is_named_and_nothing_is_trained()
    {
        var data = Repository.NewTempDirectory("bad-data");
        foreach (var file in Directory.GetFiles(Repository.MnistDirectory))
            File.Copy(file, Path.Combine(data, Path.GetFileName(file)));
        var images = Path.Combine(data, "train-images-idx3-ubyte");
        using (var stream = new FileStream(images, FileMode.Open)) stream.SetLength(1000);
        var output = Path.Combine(data, "run");
        var (code, _, stderr) = ProgramProcess.Run("Coordinator", ["train", "--data", data, "--out", output, "--in-process"],
            TimeSpan.FromMinutes(1));
        Assert.Equal(2, code);
        Assert.Equal($"error: {images}: truncated: 60000 images of 28x28 need 47040016 bytes, the file has 1000", stderr.Trim());
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void An_existing_run_directory_is_never_overwritten()
    {
        var dir = Repository.NewTempDirectory("existing");
        File.WriteAllText(Path.Combine(dir, "metrics.csv"), "precious");
        var (code, _, stderr) = ProgramProcess.Run("Coordinator", ["train", "--data", Repository.MnistDirectory, "--out", dir, "--in-process"],
            TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains($"--out {dir}: already holds a run", stderr);
        Assert.Equal("precious", File.ReadAllText(Path.Combine(dir, "metrics.csv")));
    }

    [Fact]
    public void A_worker_id_that_would_break_the_csv_files_is_refused()
    {
        var (code, stdout, stderr) = ProgramProcess.Run("Worker", ["--seed", "127.0.0.1:9", "--id", "a,b"], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains("--id: 'a,b' must be 1 to 64 letters, digits, '-', '_' or '.'", stderr + stdout);
    }

    [Fact]
    public void A_worker_whose_seed_is_unreachable_says_so_early_and_which_address_to_fix()
    {
        using var worker = ProgramProcess.Start("Worker", ["--seed", "127.0.0.1:9", "--rejoin-timeout", "120"]);
        Assert.True(worker.WaitForError("warning: cannot reach the coordinator at 127.0.0.1:9: ", TimeSpan.FromMinutes(1)),
            worker.Stderr);
        Assert.Matches("cannot reach the coordinator at 127.0.0.1:9: .*[Cc]onnection refused.*; check --seed", worker.Stderr);
        Assert.False(worker.Process.HasExited, worker.Stderr); // it keeps trying, as told
    }

    [Fact]
    public void A_worker_without_a_coordinator_gives_up_with_a_clear_message()
    {
        var (code, _, stderr) = ProgramProcess.Run("Worker", ["--seed", "127.0.0.1:9", "--rejoin-timeout", "3"], TimeSpan.FromMinutes(1));
        Assert.Equal(4, code);
        Assert.Contains("error: no coordinator at 127.0.0.1:9 for 3 s; giving up", stderr);
    }

    [Theory]
    [InlineData("--host", "0.0.0.0", "127.0.0.1:9")]
    [InlineData("--host", "127.0.0.1", "10.1.2.3:4053")]
    public void A_worker_beyond_loopback_without_tls_and_token_is_refused(string option, string host, string seed)
    {
        var (code, stdout, stderr) = ProgramProcess.Run("Worker", ["--seed", seed, "--host", host, "--token", "t"], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        var named = option == "--host" && host != "127.0.0.1" ? $"--host {host}" : $"--seed {seed[..seed.IndexOf(':')]}";
        Assert.Contains($"error: {named}: beyond loopback, TLS and a join token are both required", stderr + stdout);
    }

    [Fact]
    public void Cert_makes_an_owner_only_certificate_that_both_programs_load_and_never_overwrites_one()
    {
        var dir = Repository.NewTempDirectory("cert");
        var path = Path.Combine(dir, "cluster.pfx");
        var (code, stdout, _) = ProgramProcess.Run("Coordinator", ["cert", path], TimeSpan.FromMinutes(1));
        Assert.Equal(0, code);
        Assert.Contains($"wrote {path}", stdout);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var tls = DataParallel.Shared.Cluster.ClusterTls.Load(path, null);
        Assert.Contains(tls.Sha256, stdout);
        var before = File.ReadAllBytes(path);
        var (again, _, stderr) = ProgramProcess.Run("Coordinator", ["cert", path], TimeSpan.FromMinutes(1));
        Assert.Equal(1, again);
        Assert.Contains($"error: {path}: already exists", stderr);
        Assert.Equal(before, File.ReadAllBytes(path));
    }
}
