using Akka.Actor;
using Akka.Configuration;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;

namespace DataParallel.Tests.Transport;

/// <summary>Two actor systems over real Akka.Remote on loopback, with the frame size and serializer binding we ship.</summary>
public sealed class RemotingPayloadSpec : IDisposable
{
    private static Config Node() => ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp.port = 0
        """).WithFallback(ClusterConfig.Shared());

    private readonly ActorSystem _a = ActorSystem.Create(ClusterConfig.SystemName, Node());
    private readonly ActorSystem _b = ActorSystem.Create(ClusterConfig.SystemName, Node());

    public void Dispose()
    {
        _a.Terminate().Wait(TimeSpan.FromSeconds(10));
        _b.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell(m));
    }

    [Fact]
    public async Task A_one_million_parameter_gradient_crosses_real_remoting_intact()
    {
        const int parameters = 1_000_000;
        var random = new Random(7);
        var gradients = Enumerable.Range(0, parameters).Select(_ => (float)random.NextDouble()).ToArray();
        var message = new GradientsComputed(new UnitId(1, 2, UnitKind.MicroBatch, 3),
            new GradientResult(gradients, new float[4096], 0.5f, 30, 32), 1.5);

        _b.ActorOf(Props.Create(() => new Echo()), "echo");
        var port = ((ExtendedActorSystem)_b).Provider.DefaultAddress.Port;
        var echo = await _a.ActorSelection($"akka.tcp://{ClusterConfig.SystemName}@127.0.0.1:{port}/user/echo").ResolveOne(TimeSpan.FromSeconds(10));

        var reply = await echo.Ask<GradientsComputed>(message, TimeSpan.FromSeconds(30));

        // Bound to the binary serializer: about the raw 4 MB of floats on the wire, not JSON's 11 MB (nor a refusal).
        var serializer = _a.Serialization.FindSerializerFor(message);
        Assert.IsType<DataParallel.Shared.Serialization.ProtocolSerializer>(serializer);
        var wire = serializer.ToBinary(message).Length;
        Assert.InRange(wire, (gradients.Length + 4096) * 4, (gradients.Length + 4096) * 4 + 1024);
        Assert.NotSame(message, reply);
        Assert.Equal(gradients, reply.Result.Gradients);
        Assert.Equal(message.Result.Buffers, reply.Result.Buffers);
        Assert.Equal((message.Unit, message.Result.Count, message.Milliseconds), (reply.Unit, reply.Result.Count, reply.Milliseconds));
    }
}
