using Akka.Actor;
using Akka.Serialization;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Training;
using DataParallel.Shared.Serialization;

namespace DataParallel.Tests.Unit;

public sealed class SerializerTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("serializer-test",
        Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(ClusterConfig.Shared()));

    public void Dispose() => _system.Dispose();

    private static MicroBatch Batch(int index) => new(index, [1, 2, 3, 255], [7], 0xDEADBEEFCAFEUL, ulong.MaxValue);

    public static TheoryData<IProtocolMessage> Messages() => new()
    {
        new JoinRequest("w-1", 1, "abcdef0123456789", 2, "10.0.0.5"),
        new JoinChallenge("w-1", [1, 2, 3]),
        new JoinProof("w-1", new byte[32]),
        new JoinAccepted("w-1", new JobSpec("run", 42, 0.1, 7, 0.1)),
        new JoinAccepted("w-1", new JobSpec("run", 42, 0.1, 7, 0.1, ChannelsLast: false), new byte[32], 4054,
            Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()),
        new JoinRefused("w-1", "wrong token"),
        new RunFinished("run", "done"),
        new ComputeGradients(3, 17, 1234, [1f, -2.5f, float.Epsilon], [0f, 1f], [0, 1], [Batch(0), Batch(1)]),
        new ComputeGradients(3, 17, 1234, null, null, [2, 3], [Batch(2)]),
        new PrefetchBatches(3, 18, [Batch(2), Batch(3)]),
        new GradientsComputed(new UnitId(3, 1234, UnitKind.MicroBatch, 1), new GradientResult([0.5f, float.NaN], [1f], 0.25f, 30, 32), 12.5),
        new InputsMissing(new UnitId(3, 1234, UnitKind.MicroBatch, 0)),
        new UnitFailed(new UnitId(3, 99, UnitKind.EvalChunk, 4), "ExternalException: boom"),
        new EvaluateChunk(new UnitId(2, 99, UnitKind.EvalChunk, 5), [1f], [2f], [9, 9], [1]),
        new ChunkEvaluated(new UnitId(2, 99, UnitKind.EvalChunk, 5), new EvaluationResult(123.25, 480, 500), 9.5),
        new TrainReplica(new UnitId(1, 10, UnitKind.Replica, 2), "adam", 1e-4, [1f, 2f], [3f], [[4f, 5f], [6f, 7f]], 10,
            [new LocalStep(10, 0.1, 0.9, Batch(3))]),
        new ReplicaTrained(new UnitId(1, 10, UnitKind.Replica, 2), new ReplicaResult([1f, 2f], [3f], [[4f, 5f]], 2.5, 60, 64), 40),
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_protocol_message_round_trips_through_the_binary_serializer(IProtocolMessage message)
    {
        var serializer = _system.Serialization.FindSerializerFor(message);
        Assert.IsType<ProtocolSerializer>(serializer);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        Assert.Equal(Describe(message), Describe(back));
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void A_data_channel_frame_is_the_length_the_manifest_and_the_same_encoding(IProtocolMessage message)
    {
        var serializer = (ProtocolSerializer)_system.Serialization.FindSerializerFor(message);
        var frame = DataParallel.Shared.Transport.DataChannel.Frame(serializer, message);
        var payload = serializer.ToBinary(message);
        Assert.Equal(payload.Length, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(frame));
        Assert.Equal(serializer.Manifest(message), System.Text.Encoding.ASCII.GetString(frame, 4, 2));
        Assert.Equal(payload, frame[DataParallel.Shared.Transport.DataChannel.HeaderBytes..]);
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void The_messages_of_a_step_are_sized_exactly_before_they_are_written(IProtocolMessage message)
    {
        var bytes = _system.Serialization.FindSerializerFor(message).ToBinary(message);
        var expected = message is ComputeGradients or PrefetchBatches or GradientsComputed ? bytes.Length : (int?)null;
        Assert.Equal(expected, ProtocolSerializer.SizeOf(message));
    }

    [Fact]
    public void Floats_travel_as_four_raw_bytes_each()
    {
        var parameters = new float[13_032];
        var message = new ComputeGradients(1, 0, 0, parameters, new float[198], [], []);
        var bytes = _system.Serialization.FindSerializerFor(message).ToBinary(message);
        Assert.InRange(bytes.Length, 4 * (13_032 + 198), 4 * (13_032 + 198) + 64);
    }

    [Fact]
    public void Truncated_and_oversized_payloads_are_rejected()
    {
        var serializer = (SerializerWithStringManifest)_system.Serialization.FindSerializerFor(new RunFinished("a", "b"));
        var bytes = serializer.ToBinary(new GradientsComputed(new UnitId(1, 2, UnitKind.MicroBatch, 3),
            new GradientResult([1f, 2f, 3f], [4f], 0.5f, 1, 2), 3));
        Assert.Throws<WireFormatException>(() => serializer.FromBinary(bytes[..^5], "GC"));
        Assert.Throws<WireFormatException>(() => serializer.FromBinary([.. bytes, 0], "GC"));
        var lying = (byte[])bytes.Clone();
        BitConverter.GetBytes(int.MaxValue).CopyTo(lying, 4 + 8 + 4 + 4); // the gradient count, after the unit id
        var kind = (byte[])bytes.Clone();
        kind[12] = 9; // no such unit kind
        Assert.Contains("unit kind", Assert.Throws<WireFormatException>(() => serializer.FromBinary(kind, "GC")).Message);
        var e = Assert.Throws<WireFormatException>(() => serializer.FromBinary(lying, "GC"));
        Assert.Contains("exceeds", e.Message);
        Assert.Throws<WireFormatException>(() => serializer.FromBinary(bytes, "??"));
    }

    /// <summary>Records compare arrays by reference; this compares them by content.</summary>
    private static string Describe(object message) => System.Text.Json.JsonSerializer.Serialize(message, message.GetType(),
        new System.Text.Json.JsonSerializerOptions
        {
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        });
}
