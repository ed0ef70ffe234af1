using System.Text.RegularExpressions;
using System.Net;
using System.Net.Sockets;
using DataParallel.Coordinator.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>Real processes, real signals: what survives what. Each disturbed run must end bit-identical to the clean one.</summary>
[Collection(ProcessCollection.Name)]
public sealed class FaultToleranceTests(CleanRun clean)
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);

    private static (ProgramProcess Coordinator, string Directory) StartCoordinator(IEnumerable<string> args, string? directory = null)
    {
        var resuming = args.Contains("--resume");
        directory ??= Path.Combine(Repository.NewTempDirectory("fault"), "run");
        var process = ProgramProcess.Start("Coordinator", resuming
            ? ["train", .. args]
            : ["train", "--data", Repository.MnistDirectory, "--out", directory, .. args]);
        return (process, directory);
    }

    /// <summary>An external worker on this machine: the coordinator's port and the run's own certificate, as it printed them.</summary>
    internal static ProgramProcess StartWorker(ProgramProcess coordinator, string id, params string[] extra) =>
        ProgramProcess.Start("Worker", ["--seed", $"127.0.0.1:{Signals.ListeningPort(coordinator, Long)}", "--id", id, "--threads", "1",
            "--tls-certificate", Signals.RunCertificate(coordinator, Long), .. extra]);

    internal static void WaitFor(ProgramProcess process, string text, TimeSpan? timeout = null)
    {
        if (!process.WaitForOutput(text, timeout ?? Long))
            throw new Xunit.Sdk.XunitException($"'{text}' never appeared\nstdout:\n{process.Stdout}\nstderr:\n{process.Stderr}");
    }

    internal static void WaitForError(ProgramProcess process, string text)
    {
        if (!process.WaitForError(text, Long))
            throw new Xunit.Sdk.XunitException($"'{text}' never appeared on stderr\nstdout:\n{process.Stdout}\nstderr:\n{process.Stderr}");
    }

    /// <summary>The line a coordinator started with --hold-until-joins prints when it stops to wait.</summary>
    internal static string Holding(int epoch, int step, int joins) => $"holding before epoch {epoch} step {step} until {joins} joins";

    internal static string Finish(ProgramProcess coordinator)
    {
        Assert.True(coordinator.WaitForExit(Long), $"the coordinator did not finish\n{coordinator.Stdout}\n{coordinator.Stderr}");
        Assert.True(coordinator.Process.ExitCode == 0, $"exit {coordinator.Process.ExitCode}\n{coordinator.Stdout}\n{coordinator.Stderr}");
        return new TrainRuns.Outcome(0, coordinator.Stdout, coordinator.Stderr, "").Sha256;
    }

    [Fact]
    public void A_worker_killed_mid_epoch_loses_no_step()
    {
        var (coordinator, _) = StartCoordinator(["--workers", "3", "--log-every", "1", .. CleanRun.Settings]);
        using var _ = coordinator;
        WaitFor(coordinator, "epoch 01 step 8/30");
        Signals.Send(Signals.ChildWith(coordinator.Id, "--id local-2", TimeSpan.FromSeconds(10)), Signals.SIGKILL);

        var sha = Finish(coordinator);
        Assert.Contains("worker local-2 left", coordinator.Stdout);
        Assert.Matches(@"Epoch: 02 .* workers: 2 \(local-1: \d+ x .*local-3: ", coordinator.Stdout);
        Assert.Equal(clean.Sha256, sha);
    }

    [Fact]
    public void A_worker_started_mid_run_joins_and_changes_nothing()
    {
        // The run cannot pass step 6 before the late worker has joined, however fast this machine trains.
        var (coordinator, _) = StartCoordinator(
            ["--external", "--workers", "1", "--port", "0", "--log-every", "1", "--hold-until-joins", "2@1:6", .. CleanRun.Settings]);
        using var _ = coordinator;
        var port = Signals.ListeningPort(coordinator, TimeSpan.FromSeconds(60));
        using var first = StartWorker(coordinator, "first");
        WaitFor(coordinator, Holding(1, 6, 2));
        Assert.Contains("epoch 01 step 6/30", coordinator.Stdout);
        using var late = StartWorker(coordinator, "late");

        var sha = Finish(coordinator);
        Assert.Contains("worker late joined", coordinator.Stdout);
        Assert.Matches(@"Epoch: 02 .* workers: 2 \(first: \d+ x .*late: \d+ x", coordinator.Stdout);
        Assert.Equal(clean.Sha256, sha);
        Assert.True(late.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, late.Process.ExitCode);
    }

    [Fact]
    public void With_no_worker_left_the_coordinator_waits_then_continues()
    {
        var (coordinator, _) = StartCoordinator(["--external", "--workers", "1", "--port", "0", "--log-every", "1", .. CleanRun.Settings]);
        using var _ = coordinator;
        var port = Signals.ListeningPort(coordinator, TimeSpan.FromSeconds(60));
        using var doomed = StartWorker(coordinator, "doomed");
        WaitFor(coordinator, "epoch 01 step 5/30");
        doomed.Kill();
        WaitFor(coordinator, "waiting for workers: 0/1", TimeSpan.FromSeconds(30));
        using var rescuer = StartWorker(coordinator, "rescuer");

        Assert.Equal(clean.Sha256, Finish(coordinator));
        Assert.Contains("worker rescuer joined", coordinator.Stdout);
    }

    [Fact]
    public void A_straggler_is_named_and_its_work_duplicated_without_changing_the_result()
    {
        var (coordinator, _) = StartCoordinator(
            ["--workers", "2", "--straggler-timeout", "0.5", "--worker-timeout", "60", "--log-every", "1", .. CleanRun.Settings]);
        using var _ = coordinator;
        WaitFor(coordinator, "epoch 01 step 5/30");
        var slow = Signals.ChildWith(coordinator.Id, "--id local-2", TimeSpan.FromSeconds(10));
        // (Holding the run first is no help here: a frozen member blocks the cluster's convergence, so no worker
        // could join to release the hold.) The epoch the straggler is counted in is the one its notice names.
        Signals.Send(slow, Signals.SIGSTOP);
        // Frozen until the coordinator has named it: the event, not a guess at how long that takes.
        try { WaitForError(coordinator, "straggler: worker local-2 has held unit"); }
        finally { Signals.Send(slow, Signals.SIGCONT); }

        var sha = Finish(coordinator);
        var epoch = int.Parse(Regex.Match(coordinator.Stderr, @"straggler: worker local-2 has held unit \d+ of epoch (\d+)").Groups[1].Value);
        Assert.Matches($@"Epoch: {epoch:D2} .*local-2: \d+ x [\d.]+ ms, round trip [\d.]+ ms, \d+ slow", coordinator.Stdout);
        Assert.Equal(clean.Sha256, sha);
    }

    [Fact]
    public void A_worker_cut_off_from_the_cluster_is_downed_and_rejoins_as_a_new_member()
    {
        // Epoch 2 waits for a third join (local-1, local-2, local-2 again), so the rejoin happens during the run by construction.
        var (coordinator, _) = StartCoordinator(["--workers", "2", "--worker-timeout", "60", "--straggler-timeout", "60", "--log-every", "1",
            "--hold-until-joins", "3@2:0", .. CleanRun.Settings]);
        using var _ = coordinator;
        WaitFor(coordinator, "epoch 01 step 5/30");
        var cut = Signals.ChildWith(coordinator.Id, "--id local-2", TimeSpan.FromSeconds(10));
        Signals.Send(cut, Signals.SIGSTOP);
        try { WaitFor(coordinator, "worker local-2 left: unreachable"); }
        finally { Signals.Send(cut, Signals.SIGCONT); }

        var sha = Finish(coordinator);
        var joins = coordinator.Stdout.Split('\n').Count(l => l.StartsWith("worker local-2 joined"));
        Assert.True(joins == 2, coordinator.Stdout);
        Assert.Equal(clean.Sha256, sha);
    }

    [Fact]
    public void A_killed_coordinator_resumes_from_its_checkpoint_with_the_same_result()
    {
        // Held for good before step 12 of epoch 2, just after the checkpoint of that step (every 4: 4, 8, 12), then killed.
        var (coordinator, dir) = StartCoordinator(
            ["--workers", "2", "--checkpoint-every-steps", "4", "--log-every", "1", "--hold-until-joins", "99@2:12", .. CleanRun.Settings]);
        List<int> workers;
        using (coordinator)
        {
            WaitFor(coordinator, Holding(2, 12, 99));
            workers = Signals.Children(coordinator.Id).Where(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains("Worker")).ToList();
            Assert.Equal(2, workers.Count);
            Signals.Send(coordinator.Id, Signals.SIGKILL);
            coordinator.WaitForExit(TimeSpan.FromSeconds(10));
        }
        // Its workers notice their parent is gone and leave by themselves.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (workers.Any(Signals.Alive) && DateTime.UtcNow < deadline) Thread.Sleep(200);
        Assert.DoesNotContain(workers, Signals.Alive);

        var (resumed, _) = StartCoordinator(["--resume", dir, "--workers", "2", "--threads-per-worker", "1"], dir);
        using var _ = resumed;
        var sha = Finish(resumed);
        Assert.Contains("from checkpoint-e002-s000012.ckpt (epoch 2, step 12)", resumed.Stdout);
        Assert.Equal(clean.Sha256, sha);
        var metrics = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        Assert.Equal(3, metrics.Length);
    }

    [Fact]
    public void A_corrupted_checkpoint_is_detected_and_the_previous_one_used()
    {
        var finished = TrainRuns.Train(["--in-process", "--workers", "2", "--checkpoint-every-steps", "7", .. CleanRun.Settings]);
        Assert.Equal(0, finished.ExitCode);
        var store = new CheckpointStore(finished.RunDirectory);
        var files = store.Files();
        Assert.Equal(new[] { "checkpoint-e003-s000000.ckpt", "checkpoint-e002-s000028.ckpt" }, files.Select(Path.GetFileName));
        var bytes = File.ReadAllBytes(files[0]);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(files[0], bytes);

        var (resumed, _) = StartCoordinator(
            ["--resume", finished.RunDirectory, "--in-process", "--workers", "2", "--threads-per-worker", "1"], finished.RunDirectory);
        using var _ = resumed;
        var sha = Finish(resumed);
        Assert.Contains($"warning: {files[0]}: checksum mismatch (truncated or corrupted); trying the previous checkpoint", resumed.Stderr);
        Assert.Contains("from checkpoint-e002-s000028.ckpt (epoch 2, step 28)", resumed.Stdout);
        Assert.Equal(clean.Sha256, sha);

        // Both damaged: a clear error, nothing trained, nothing overwritten.
        foreach (var file in store.Files())
            using (var stream = new FileStream(file, FileMode.Open)) stream.SetLength(stream.Length - 100);
        var before = File.ReadAllText(Path.Combine(finished.RunDirectory, "metrics.csv"));
        var (code, _, stderr) = ProgramProcess.Run("Coordinator", ["train", "--resume", finished.RunDirectory, "--in-process"],
            TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains("none of the 2 checkpoints", stderr);
        Assert.Equal(before, File.ReadAllText(Path.Combine(finished.RunDirectory, "metrics.csv")));
    }

    [Fact]
    public void A_worker_with_the_wrong_token_is_refused_and_the_token_is_never_written()
    {
        const string token = "correct-horse-battery-staple";
        var (coordinator, dir) = StartCoordinator(["--external", "--workers", "1", "--port", "0", "--token", token, .. CleanRun.Settings]);
        using var _ = coordinator;
        var port = Signals.ListeningPort(coordinator, TimeSpan.FromSeconds(60));

        using var intruder = StartWorker(coordinator, "intruder", "--token", "guess");
        Assert.True(intruder.WaitForExit(TimeSpan.FromSeconds(60)), intruder.Stdout);
        Assert.Equal(3, intruder.Process.ExitCode);
        Assert.Contains("error: the coordinator refused worker intruder: wrong or missing join token", intruder.Stderr);
        using var anonymous = StartWorker(coordinator, "anonymous");
        Assert.True(anonymous.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Equal(3, anonymous.Process.ExitCode);

        using var member = ProgramProcess.Start("Worker", ["--seed", $"127.0.0.1:{port}", "--id", "member", "--threads", "1",
            "--tls-certificate", Signals.RunCertificate(coordinator, Long)],
            environment: new Dictionary<string, string?> { ["DATAPARALLEL_TOKEN"] = token });
        Assert.Equal(clean.Sha256, Finish(coordinator));
        Assert.Contains("refused worker intruder", coordinator.Stderr);

        var everything = coordinator.Stdout + coordinator.Stderr + member.Stdout + member.Stderr
            + string.Concat(Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
                .Select(f => System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        Assert.DoesNotContain(token, everything);
    }

    [Fact]
    public void A_worker_with_another_model_or_protocol_or_an_address_nobody_reaches_is_refused_on_both_sides()
    {
        var (coordinator, _) = StartCoordinator(["--external", "--workers", "1", "--port", "0", .. CleanRun.Settings]);
        using var _ = coordinator;
        var port = Signals.ListeningPort(coordinator, TimeSpan.FromSeconds(60));
        using var other = StartWorker(coordinator, "other-model", "--announce-fingerprint", "0000000000000000");
        using var older = StartWorker(coordinator, "older", "--announce-protocol", "0");
        // Bound to 127.0.0.1, it advertises 127.0.0.2, where nothing listens: Akka would answer it over the connection
        // it opened, until that connection dropped; the coordinator's own connection attempt is refused.
        using var astray = StartWorker(coordinator, "astray", "--public-host", "127.0.0.2");
        foreach (var refused in new[] { other, older, astray })
        {
            Assert.True(refused.WaitForExit(TimeSpan.FromSeconds(60)), refused.Stdout + refused.Stderr);
            Assert.True(refused.Process.ExitCode == 3, $"exit {refused.Process.ExitCode}\n{refused.Stdout}\n{refused.Stderr}");
        }
        Assert.Contains("model fingerprint 0000000000000000 does not match the coordinator's", other.Stderr);
        Assert.Contains($"protocol version 0 does not match the coordinator's {DataParallel.Shared.Protocol.ProtocolInfo.Version}", older.Stderr);
        Assert.Matches(@"error: the coordinator refused worker astray: the coordinator cannot reach this worker back at 127\.0\.0\.2:\d+, "
            + @"the address it advertises \(connection refused: nothing listens there\); start the worker with --public-host", astray.Stderr);
        WaitFor(coordinator, "waiting for workers: 0/1");
        Assert.Contains("refused worker other-model", coordinator.Stderr);
        Assert.Contains("refused worker older", coordinator.Stderr);
        Assert.Matches(@"refused worker astray from akka\.ssl\.tcp://dataparallel@127\.0\.0\.2:\d+: the coordinator cannot reach",
            coordinator.Stderr);
    }

    [Fact]
    public void Non_finite_values_stop_the_run_and_never_reach_a_checkpoint()
    {
        var run = TrainRuns.Train(
            ["--in-process", "--workers", "2", "--lr", "1e6", "--schedule", "constant", "--checkpoint-every-steps", "1", .. CleanRun.Settings]);
        Assert.Equal(3, run.ExitCode);
        var failed = System.Text.RegularExpressions.Regex.Match(run.Stderr, @"error: epoch 1 step (\d+)\b.*not finite");
        Assert.True(failed.Success, run.Stderr);
        // A checkpoint after every step: the newest is the state the failing step started from, and none is later.
        var store = new CheckpointStore(run.RunDirectory);
        Assert.NotEmpty(store.Files());
        Assert.Equal($"checkpoint-e001-s{int.Parse(failed.Groups[1].Value):D6}.ckpt", Path.GetFileName(store.Files()[0]));
        foreach (var file in store.Files())
        {
            var checkpoint = CheckpointFile.Decode(File.ReadAllBytes(file), file);
            Assert.True(TrainingRun.Finite(checkpoint.Parameters) && TrainingRun.Finite(checkpoint.Buffers), file);
            Assert.All(checkpoint.OptimizerState, v => Assert.True(TrainingRun.Finite(v)));
        }
        Assert.False(File.Exists(Path.Combine(run.RunDirectory, "result.json")));
    }

    [Fact]
    public void A_port_in_use_is_one_clear_line()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var run = TrainRuns.Train(["--in-process", "--port", port.ToString(), .. CleanRun.Settings]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: cannot listen on 127.0.0.1:{port}", run.Stderr);
    }

    [Fact]
    public void Resuming_needs_a_checkpoint_and_keeps_its_settings()
    {
        var empty = Repository.NewTempDirectory("empty-run");
        var (code, _, stderr) = ProgramProcess.Run("Coordinator", ["train", "--resume", empty, "--in-process"], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains($"no checkpoint to resume from", stderr);

        (code, _, stderr) = ProgramProcess.Run("Coordinator", ["train", "--resume", empty, "--lr", "0.5"], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains("--lr cannot be given with --resume", stderr);
    }
}

/// <summary>Stopping the coordinator, politely or not: its workers never outlive it for long.</summary>
[Collection(ProcessCollection.Name)]
public sealed class CoordinatorLifecycleTests(CleanRun clean)
{
    [Fact]
    public void Ctrl_C_stops_the_run_and_its_worker_processes()
    {
        var dir = Path.Combine(Repository.NewTempDirectory("sigint"), "run");
        using var coordinator = ProgramProcess.Start("Coordinator",
            ["train", "--data", Repository.MnistDirectory, "--out", dir, "--workers", "2", "--log-every", "1",
            "--hold-until-joins", "99@1:3", .. CleanRun.Settings]);
        FaultToleranceTests.WaitFor(coordinator, FaultToleranceTests.Holding(1, 3, 99));
        var workers = Signals.Children(coordinator.Id).Where(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains("Worker")).ToList();
        Assert.Equal(2, workers.Count);

        Signals.Send(coordinator.Id, Signals.SIGINT);
        Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(30)), $"{coordinator.Stdout}\nstderr:\n{coordinator.Stderr}");
        Assert.Equal(130, coordinator.Process.ExitCode);
        Assert.Contains("error: interrupted", coordinator.Stderr);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (workers.Any(Signals.Alive) && DateTime.UtcNow < deadline) Thread.Sleep(200);
        Assert.DoesNotContain(workers, Signals.Alive);
        // What was written is intact and nothing unfinished was: no half-written file, no checkpoint (no epoch ended
        // and none was asked for within one), no metrics line, and the settings it started with.
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(Directory.Exists(Path.Combine(dir, "checkpoints")) ? Directory.GetFiles(Path.Combine(dir, "checkpoints")) : []);
        Assert.False(File.Exists(Path.Combine(dir, "metrics.csv")) && File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length > 1);
        Assert.False(File.Exists(Path.Combine(dir, "result.json")));
        using var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
        Assert.Equal(2, config.RootElement.GetProperty("settings").GetProperty("epochs").GetInt32());
    }

    [Fact]
    public void An_external_worker_waits_for_a_restarted_coordinator_and_rejoins_it()
    {
        var dir = Path.Combine(Repository.NewTempDirectory("restart"), "run");
        // The first coordinator takes any free port and holds it; the second binds the same port once the first is gone.
        var first = ProgramProcess.Start("Coordinator",
            ["train", "--data", Repository.MnistDirectory, "--out", dir, "--checkpoint-every-steps", "5", "--log-every", "1",
            "--external", "--workers", "1", "--port", "0", "--hold-until-joins", "99@1:12", .. CleanRun.Settings]);
        int port;
        ProgramProcess worker;
        using (first)
        {
            port = Signals.ListeningPort(first, TimeSpan.FromMinutes(1));
            worker = ProgramProcess.Start("Worker", ["--seed", $"127.0.0.1:{port}", "--id", "steadfast", "--threads", "1", "--rejoin-timeout", "120",
                "--tls-certificate", Signals.RunCertificate(first, TimeSpan.FromMinutes(1))]);
            FaultToleranceTests.WaitFor(first, FaultToleranceTests.Holding(1, 12, 99));
            Signals.Send(first.Id, Signals.SIGKILL);
            first.WaitForExit(TimeSpan.FromSeconds(10));
        }
        using var _ = worker;

        using var second = ProgramProcess.Start("Coordinator",
            ["train", "--resume", dir, "--threads-per-worker", "1", "--external", "--workers", "1", "--port", port.ToString()]);
        Assert.True(second.WaitForExit(TimeSpan.FromMinutes(3)), second.Stdout + second.Stderr);
        Assert.True(second.Process.ExitCode == 0, second.Stdout + second.Stderr);
        Assert.Contains("worker steadfast joined", second.Stdout);
        Assert.Equal(clean.Sha256, new TrainRuns.Outcome(0, second.Stdout, second.Stderr, dir).Sha256);
        Assert.True(worker.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, worker.Process.ExitCode);
        Assert.Contains("coordinator lost", worker.Stderr);
        Assert.Contains("from checkpoint-e001-s000010.ckpt (epoch 1, step 10)", second.Stdout);
    }
}
