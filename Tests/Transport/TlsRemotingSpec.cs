using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Transport;

/// <summary>
/// Akka.Remote over TLS on loopback, each node built and started exactly as the programs do it (ClusterConfig.Node,
/// ClusterConfig.Start), with certificates the test makes. Every wait is bounded.
/// </summary>
public sealed class TlsRemotingSpec : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    // Long enough for a join (a second or two here), short enough to keep the negative tests quick.
    private static readonly TimeSpan Refusal = TimeSpan.FromSeconds(8);

    private readonly string _dir = Repository.NewTempDirectory("tls");
    private readonly List<ActorSystem> _systems = new();
    private readonly ConcurrentQueue<object> _received = new();

    public void Dispose()
    {
        foreach (var system in _systems)
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    private ClusterTls Certificate(string name) => ClusterTls.Load(TestCertificates.CreatePfx(_dir, name), TestCertificates.Password);

    private static Config NodeConfig(string role, params string[] seeds) =>
        ClusterConfig.Node(role, new NodeEndpoint("127.0.0.1", 0), seeds, Config.Empty, "akka.loglevel = WARNING");

    private ActorSystem Track(ActorSystem system)
    {
        _systems.Add(system);
        return system;
    }

    /// <summary>A coordinator node that has founded its cluster, with a recording echo where the coordinator actor lives.</summary>
    private async Task<(ActorSystem System, Address Address)> StartCoordinator(ClusterTls? tls)
    {
        var system = Track(ClusterConfig.Start(NodeConfig(ClusterConfig.CoordinatorRole), tls));
        var cluster = Akka.Cluster.Cluster.Get(system);
        await cluster.JoinAsync(cluster.SelfAddress).WaitAsync(Patience);
        system.ActorOf(Props.Create(() => new RecordingEcho(_received)), "coordinator");
        return (system, cluster.SelfAddress);
    }

    private static Task MemberUp(ActorSystem system)
    {
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() => up.TrySetResult());
        return up.Task;
    }

    private sealed class RecordingEcho : ReceiveActor
    {
        public RecordingEcho(ConcurrentQueue<object> received) => ReceiveAny(m =>
        {
            received.Enqueue(m);
            Sender.Tell(m);
        });
    }

    [Fact]
    public async Task A_worker_joins_over_tls_and_protocol_messages_cross_intact()
    {
        var tls = Certificate("cluster");
        var (coordinator, address) = await StartCoordinator(tls);
        Assert.Equal("akka.ssl.tcp", address.Protocol);

        var worker = Track(ClusterConfig.Start(NodeConfig(ClusterConfig.WorkerRole, address.ToString()), tls));
        await MemberUp(worker).WaitAsync(Patience);
        Assert.Equal(2, Akka.Cluster.Cluster.Get(coordinator).State.Members.Count);

        var target = worker.ActorSelection(ClusterConfig.CoordinatorAddress(address.Host!, address.Port!.Value, tls: true));
        var request = new JoinRequest("w-tls", 1, "fingerprint", 1, "127.0.0.1");
        Assert.Equal(request, await target.Ask<JoinRequest>(request, Patience));
        // Several TLS records per frame: a gradient of a million parameters, as in RemotingPayloadSpec.
        var gradients = Enumerable.Range(0, 1_000_000).Select(i => i * 1e-6f).ToArray();
        var reply = await target.Ask<GradientsComputed>(new GradientsComputed(new UnitId(1, 2, UnitKind.MicroBatch, 3),
            new GradientResult(gradients, new float[16], 0.5f, 30, 32), 1.5), Patience);
        Assert.Equal(gradients, reply.Result.Gradients);
    }

    [Fact]
    public async Task A_node_without_tls_cannot_join_or_reach_a_tls_node()
    {
        var (coordinator, address) = await StartCoordinator(Certificate("cluster"));
        // Without TLS a node has only the plain transport, so it can only try the plain scheme at the TLS port.
        var plain = Track(ClusterConfig.Start(
            NodeConfig(ClusterConfig.WorkerRole, ClusterConfig.Address("127.0.0.1", address.Port!.Value)), tls: null));
        var up = MemberUp(plain);

        var ask = plain.ActorSelection(ClusterConfig.CoordinatorAddress("127.0.0.1", address.Port!.Value))
            .Ask<JoinRequest>(new JoinRequest("w-plain", 1, "fingerprint", 1, "127.0.0.1"), Refusal);

        await Assert.ThrowsAnyAsync<Exception>(() => ask);
        Assert.False(up.IsCompleted);
        Assert.Empty(_received);
        Assert.Single(Akka.Cluster.Cluster.Get(coordinator).State.Members);
    }

    [Fact]
    public async Task A_node_with_another_certificate_of_the_same_name_is_refused_and_shut_down()
    {
        var (coordinator, address) = await StartCoordinator(Certificate("cluster"));
        var other = Certificate("other");
        var stranger = Track(ClusterConfig.Start(NodeConfig(ClusterConfig.WorkerRole, address.ToString()), other));

        // Akka.Remote 1.5.74 ends an actor system whose outbound TLS handshake fails, rather than leaving it half-connected.
        await stranger.WhenTerminated.WaitAsync(Patience);
        Assert.True(ClusterTls.IsHandshakeFailure(CoordinatedShutdown.Get(stranger).ShutdownReason),
            CoordinatedShutdown.Get(stranger).ShutdownReason?.ToString());
        Assert.Empty(_received);
        Assert.Single(Akka.Cluster.Cluster.Get(coordinator).State.Members);
        Assert.False(coordinator.WhenTerminated.IsCompleted);
    }

    [Fact]
    public async Task A_client_that_skips_validation_is_still_refused_because_the_tls_node_checks_it_too()
    {
        var (coordinator, address) = await StartCoordinator(Certificate("cluster"));
        // What someone without the cluster's file could do: present their own certificate and trust anything.
        var other = Certificate("other");
        var config = ConfigurationFactory.ParseString(ClusterTls.Hocon).WithFallback(NodeConfig(ClusterConfig.WorkerRole, address.ToString()));
        var setup = BootstrapSetup.Create().WithConfig(config)
            .And(new DotNettySslSetup(other.Certificate, suppressValidation: true, requireMutualAuthentication: true));
        var intruder = Track(ActorSystem.Create(ClusterConfig.SystemName, setup));
        var up = MemberUp(intruder);

        var ask = intruder.ActorSelection(ClusterConfig.CoordinatorAddress("127.0.0.1", address.Port!.Value, tls: true))
            .Ask<JoinRequest>(new JoinRequest("w-intruder", 1, "fingerprint", 1, "127.0.0.1"), Refusal);

        await Assert.ThrowsAnyAsync<Exception>(() => ask);
        Assert.False(up.IsCompleted);
        Assert.Empty(_received);
        Assert.Single(Akka.Cluster.Cluster.Get(coordinator).State.Members);
        Assert.False(coordinator.WhenTerminated.IsCompleted);
    }

    [Fact]
    public void The_tls_switch_without_a_certificate_stops_the_node_rather_than_start_it_in_plain_text()
    {
        var config = ConfigurationFactory.ParseString(ClusterTls.Hocon).WithFallback(NodeConfig(ClusterConfig.WorkerRole));
        var e = Assert.ThrowsAny<Exception>(() => Track(ActorSystem.Create(ClusterConfig.SystemName, config)));
        Assert.Contains("certificate", e.ToString());
    }
}
