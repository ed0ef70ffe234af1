using DataParallel.Shared.Cluster;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>Real coordinator and worker processes talking Akka.Remote over TLS, with a certificate the test makes.</summary>
[Collection(ProcessCollection.Name)]
public sealed class TlsTrainingTests
{
    private static readonly string[] Tiny = ["--epochs", "1", "--limit-train", "256", "--limit-test", "100", "--threads-per-worker", "1"];
    private static readonly Dictionary<string, string?> PasswordInEnvironment = new() { [ClusterTls.PasswordVariable] = TestCertificates.Password };

    private readonly string _dir = Repository.NewTempDirectory("tls-run");

    [Fact]
    public void An_external_worker_with_the_certificate_trains_over_tls_and_one_without_it_is_turned_away()
    {
        var pfx = TestCertificates.CreatePfx(_dir, "cluster");
        var other = TestCertificates.CreatePfx(_dir, "other");
        var output = Path.Combine(_dir, "run");
        using var coordinator = ProgramProcess.Start("Coordinator",
            ["train", "--data", Repository.MnistDirectory, "--out", output, "--external", "--workers", "1", "--port", "0",
                "--tls-certificate", pfx, .. Tiny],
            environment: PasswordInEnvironment);
        var port = Signals.ListeningPort(coordinator, TimeSpan.FromMinutes(2));
        Assert.True(coordinator.WaitForOutput("waiting for 1 worker(s)", TimeSpan.FromMinutes(2)), coordinator.Stderr + coordinator.Stdout);
        Assert.Contains($"coordinator listening at akka.ssl.tcp://dataparallel@127.0.0.1:{port}", coordinator.Stdout);
        Assert.Contains($"--tls-certificate {pfx}", coordinator.Stdout);

        // Another certificate, even one with the same name: the handshake fails, the worker says so and gives up at once.
        var stranger = ProgramProcess.Run("Worker",
            ["--seed", $"127.0.0.1:{port}", "--tls-certificate", other, "--tls-password", TestCertificates.Password, "--id", "stranger"],
            TimeSpan.FromMinutes(1));
        Assert.True(stranger.ExitCode == 3, stranger.Stderr + stranger.Stdout);
        Assert.Contains($"error: TLS handshake with the coordinator at 127.0.0.1:{port} failed", stranger.Stderr);
        Assert.False(coordinator.Process.HasExited, coordinator.Stderr + coordinator.Stdout);

        using var worker = ProgramProcess.Start("Worker",
            ["--seed", $"127.0.0.1:{port}", "--tls-certificate", pfx, "--threads", "1", "--id", "tls-worker"],
            environment: PasswordInEnvironment);
        Assert.True(coordinator.WaitForExit(TimeSpan.FromMinutes(3)), coordinator.Stderr + coordinator.Stdout);
        var run = new TrainRuns.Outcome(coordinator.Process.ExitCode, coordinator.Stdout, coordinator.Stderr, output);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Matches("^[0-9a-f]{64}$", run.Sha256);
        Assert.Contains("worker tls-worker joined", run.Stdout);
        Assert.True(worker.WaitForExit(TimeSpan.FromSeconds(30)), worker.Stderr + worker.Stdout);
        Assert.Equal(0, worker.Process.ExitCode);
        Assert.Contains("worker tls-worker is up in the cluster", worker.Stdout);

        var config = File.ReadAllText(Path.Combine(output, "config.json"));
        Assert.Contains(ClusterTls.Load(pfx, TestCertificates.Password).Sha256, config);
        Assert.DoesNotContain(TestCertificates.Password, config);
    }

    [Fact]
    public void Local_worker_processes_get_the_certificate_and_its_password_from_the_coordinator()
    {
        var pfx = TestCertificates.CreatePfx(_dir, "cluster");
        var run = TrainRuns.Train(["--workers", "1", "--tls-certificate", pfx, .. Tiny], environment: PasswordInEnvironment);
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Contains("coordinator listening at akka.ssl.tcp://", run.Stdout);
        Assert.Contains("worker local-1 joined", run.Stdout);
        Assert.Matches("^[0-9a-f]{64}$", run.Sha256);
    }

    [Theory]
    [InlineData("Coordinator", "missing")]
    [InlineData("Coordinator", "wrong password")]
    [InlineData("Worker", "missing")]
    [InlineData("Worker", "wrong password")]
    public void An_unusable_certificate_fails_with_one_line_naming_the_file(string program, string problem)
    {
        var pfx = problem == "missing" ? Path.Combine(_dir, "absent.pfx") : TestCertificates.CreatePfx(_dir, "cluster");
        string[] tls = ["--tls-certificate", pfx, "--tls-password", "not-the-password"];
        string[] args = program == "Coordinator"
            ? ["train", "--data", Repository.MnistDirectory, "--out", Path.Combine(_dir, "run"), .. tls]
            : ["--seed", "127.0.0.1:9", .. tls];
        var (code, stdout, stderr) = ProgramProcess.Run(program, args, TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        var expected = problem == "missing"
            ? $"error: --tls-certificate {pfx}: no such file"
            : $"error: --tls-certificate {pfx}: not a PKCS#12 (.pfx) file, "
                + $"or the password (--tls-password or {ClusterTls.PasswordVariable}) is wrong: ";
        Assert.StartsWith(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.DoesNotContain("Exception", stderr + stdout);
        Assert.False(Directory.Exists(Path.Combine(_dir, "run")));
    }

    [Fact]
    public void A_password_without_a_certificate_is_an_error()
    {
        var (code, stdout, stderr) = ProgramProcess.Run("Worker", ["--seed", "127.0.0.1:9", "--tls-password", "x"], TimeSpan.FromMinutes(1));
        Assert.Equal(1, code);
        Assert.Contains("--tls-password needs --tls-certificate", stderr + stdout);
    }
}
