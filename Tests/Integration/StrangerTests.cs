using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Integration;

/// <summary>
/// The test plays the stranger: a node of its own on loopback that can open a TCP connection to every port of a real
/// run and sends it everything a peer can send. Each run must still end with exit 0 and the clean run's parameters.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed partial class StrangerTests(CleanRun clean) : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(3);
    private readonly List<ActorSystem> _strangers = new();

    public void Dispose()
    {
        foreach (var system in _strangers) system.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// A stock Akka.Remote node with the same system name: Akka's defaults (JSON for any object) plus our binary
    /// protocol serializer, so it can forge protocol messages too.
    /// </summary>
    private ActorSystem Stranger()
    {
        var config = ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.loglevel = ERROR
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, maximum-frame-size = 32 MiB }
            akka.actor.serializers.protocol = "DataParallel.Shared.Serialization.ProtocolSerializer, DataParallel.Shared"
            akka.actor.serialization-bindings { "DataParallel.Shared.Protocol.IProtocolMessage, DataParallel.Shared" = protocol }
            """);
        var system = ActorSystem.Create(ClusterConfig.SystemName, config);
        _strangers.Add(system);
        return system;
    }

    /// <summary>Everything a connected peer can send without holding a worker's actor reference.</summary>
    private static void Attack(ActorSystem stranger, string coordinatorNode, IEnumerable<string> workerNodes, string victimId)
    {
        var provider = ((ExtendedActorSystem)stranger).Provider;
        var coordinator = stranger.ActorSelection($"{coordinatorNode}/user/coordinator");
        var reporter = stranger.ActorSelection($"{coordinatorNode}/user/reporter");
        foreach (var worker in workerNodes)
        {
            // Claim to be a worker (its path, without the incarnation's uid that only the cluster knows).
            var posing = provider.ResolveActorRef($"{worker}/user/worker");
            for (var version = 0; version < 64; version++)
                for (var index = 0; index < 4; index++)
                {
                    var unit = new UnitId(1, version, UnitKind.MicroBatch, index);
                    coordinator.Tell(new GradientsComputed(unit, new GradientResult(new float[13_032], new float[198], 0f, 64, 32), 1), posing);
                    coordinator.Tell(new UnitFailed(unit, "forged"), posing);
                }
            stranger.ActorSelection($"{worker}/user/worker").Tell(new RunFinished("any", "forged: stop"), ActorRefs.NoSender);
            stranger.ActorSelection($"{worker}/user/worker").Tell(PoisonPill.Instance);
        }
        coordinator.Tell(new JoinRequest(victimId, ProtocolInfo.Version, "0000000000000000", 1, "127.0.0.1", new byte[32]));
        coordinator.Tell(new List<string> { "an object only JSON can carry" });
        coordinator.Tell(new RunFinished("any", "forged"));
        reporter.Tell(new Dictionary<string, string> { ["RunCompleted"] = "forged" });
        reporter.Tell(PoisonPill.Instance);
        reporter.Tell(Kill.Instance);
        coordinator.Tell(Kill.Instance);
        coordinator.Tell(PoisonPill.Instance);
    }

    private static string Node(ProgramProcess coordinator) =>
        ListeningLine().Match(coordinator.Stdout).Groups[1].Value;

    private static IReadOnlyList<string> WorkerNodes(ProgramProcess coordinator) =>
        JoinedLine().Matches(coordinator.Stdout).Select(m => m.Groups[1].Value).ToList();

    [Fact]
    public async Task Without_the_runs_certificate_a_local_process_reaches_nothing_not_even_with_poison()
    {
        // Two workers train; the run holds before step 4 until a third joins, which the test starts after the attack.
        var dir = Path.Combine(Repository.NewTempDirectory("stranger"), "run");
        using var coordinator = ProgramProcess.Start("Coordinator", ["train", "--data", Repository.MnistDirectory, "--out", dir,
            "--external", "--workers", "2", "--port", "0", "--hold-until-joins", "3@1:4", .. CleanRun.Settings]);
        using var w1 = FaultToleranceTests.StartWorker(coordinator, "w1");
        using var w2 = FaultToleranceTests.StartWorker(coordinator, "w2");
        FaultToleranceTests.WaitFor(coordinator, FaultToleranceTests.Holding(1, 4, 3));
        Assert.StartsWith("akka.ssl.tcp://", Node(coordinator));

        // The stranger has plain TCP only: it can connect to the ports, and no further.
        var plain = Node(coordinator).Replace("akka.ssl.tcp://", "akka.tcp://");
        var workers = WorkerNodes(coordinator).Select(w => w.Replace("akka.ssl.tcp://", "akka.tcp://")).ToList();
        Assert.Equal(2, workers.Count);
        Attack(Stranger(), plain, workers, "w1");
        // And once more with a certificate of its own (another key, even the same subject): the handshake fails.
        var other = ClusterTls.Load(TestCertificates.CreatePfx(Repository.NewTempDirectory("stranger-cert"), "other"), TestCertificates.Password);
        var withTls = ClusterConfig.Start(
            ClusterConfig.Node(ClusterConfig.WorkerRole, new NodeEndpoint("127.0.0.1", 0), [], Config.Empty, "akka.loglevel = OFF"), other);
        _strangers.Add(withTls);
        withTls.ActorSelection($"{Node(coordinator)}/user/coordinator").Tell(new JoinRequest("w2", ProtocolInfo.Version, "x", 1, "h"));
        withTls.ActorSelection($"{Node(coordinator)}/user/coordinator").Tell(PoisonPill.Instance);
        // The data port: no ticket, no TLS or another certificate, 2 GB announced, silence. Every connection is closed.
        Assert.Empty(await DataPortStranger.AttackAsync(DataPortStranger.PortOf(coordinator), other, Long));

        using var w3 = FaultToleranceTests.StartWorker(coordinator, "w3");
        Assert.Equal(clean.Sha256, FaultToleranceTests.Finish(coordinator));
        Assert.DoesNotContain("worker w1 left", coordinator.Stdout);
        Assert.Matches(@"Epoch: 02 .* workers: 3 \(w1: ", coordinator.Stdout);
        Assert.False(File.Exists(Path.Combine(dir, ClusterCertificate.RunFileName)), "a finished run removes its certificate");
        Assert.Contains("data port refused a connection: ", coordinator.Stderr);
    }

    [Fact]
    public async Task With_tls_off_forged_results_orders_joins_and_json_are_dropped()
    {
        // --no-tls on loopback: the stranger reaches every actor. The token, the sender-keyed checks and the refusal of
        // JSON are what is left; they must keep the result exact (PoisonPill would still stop the run: see the README).
        const string token = "a-token-the-stranger-lacks";
        var environment = new Dictionary<string, string?> { ["DATAPARALLEL_TOKEN"] = token };
        var dir = Path.Combine(Repository.NewTempDirectory("stranger-plain"), "run");
        using var coordinator = ProgramProcess.Start("Coordinator", ["train", "--data", Repository.MnistDirectory, "--out", dir, "--no-tls",
            "--external", "--workers", "2", "--port", "0", "--hold-until-joins", "3@1:4", .. CleanRun.Settings], environment: environment);
        var port = Signals.ListeningPort(coordinator, Long);
        ProgramProcess Worker(string id) =>
            ProgramProcess.Start("Worker", ["--seed", $"127.0.0.1:{port}", "--id", id, "--threads", "1"], environment: environment);
        using var w1 = Worker("w1");
        using var w2 = Worker("w2");
        FaultToleranceTests.WaitFor(coordinator, FaultToleranceTests.Holding(1, 4, 3));
        var node = Node(coordinator);
        Assert.StartsWith("akka.tcp://", node);

        var stranger = Stranger();
        var provider = ((ExtendedActorSystem)stranger).Provider;
        var workers = WorkerNodes(coordinator);
        // A join for a registered id, proven with the wrong token: refused, and w1 is not evicted.
        var inbox = Inbox.Create(stranger);
        var target = await stranger.ActorSelection($"{node}/user/coordinator").ResolveOne(Long);
        inbox.Send(target,
            new JoinRequest("w1", ProtocolInfo.Version, DataParallel.Shared.Model.SeedNetFingerprint.Value, 1, "127.0.0.1", new byte[32]));
        var challenge = Assert.IsType<JoinChallenge>(await inbox.ReceiveAsync(Long));
        inbox.Send(target, new JoinProof("w1", DataParallel.Shared.Security.JoinToken.Prove("guess", challenge.Nonce, "w1")));
        Assert.Equal("wrong or missing join token", Assert.IsType<JoinRefused>(await inbox.ReceiveAsync(Long)).Reason);
        foreach (var worker in workers)
        {
            var posing = provider.ResolveActorRef($"{worker}/user/worker");
            for (var version = 0; version < 64; version++)
                for (var index = 0; index < 4; index++)
                    stranger.ActorSelection($"{node}/user/coordinator").Tell(
                        new GradientsComputed(new UnitId(1, version, UnitKind.MicroBatch, index),
                            new GradientResult(new float[13_032], new float[198], 0f, 64, 32), 1), posing);
            stranger.ActorSelection($"{worker}/user/worker").Tell(new RunFinished("any", "forged: stop"));
            stranger.ActorSelection($"{worker}/user/worker").Tell(new ComputeGradients(1, 4, 4, new float[13_032], new float[198], [0], []));
        }
        stranger.ActorSelection($"{node}/user/coordinator").Tell(new List<string> { "an object only JSON can carry" });
        stranger.ActorSelection($"{node}/user/reporter").Tell(new Dictionary<string, string> { ["RunCompleted"] = "forged" });
        // The data port over plain TCP: a guessed ticket, 2 GB announced, silence. Every connection is closed.
        Assert.Empty(await DataPortStranger.AttackAsync(DataPortStranger.PortOf(coordinator), null, Long));

        using var w3 = Worker("w3");
        Assert.Equal(clean.Sha256, FaultToleranceTests.Finish(coordinator));
        Assert.Contains("refused worker w1", coordinator.Stderr);
        Assert.Contains("data port refused a connection: ", coordinator.Stderr);
        Assert.DoesNotContain("worker w1 left", coordinator.Stdout);
        Assert.Matches(@"Epoch: 02 .* workers: 3 \(w1: ", coordinator.Stdout);
        Assert.True(w1.WaitForExit(TimeSpan.FromSeconds(30)) && w1.Process.ExitCode == 0, w1.Stderr);
    }

    [GeneratedRegex(@"coordinator listening at (akka(?:\.ssl)?\.tcp://\S+@[^:\s]+:\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"worker \S+ joined from (akka(?:\.ssl)?\.tcp://\S+@[^:\s]+:\d+)")]
    private static partial Regex JoinedLine();
}
