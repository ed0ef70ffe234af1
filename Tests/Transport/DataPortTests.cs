using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using DataParallel.Coordinator.Transport;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Serialization;
using DataParallel.Shared.Training;
using DataParallel.Shared.Transport;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Transport;

/// <summary>
/// The coordinator's data port on real loopback sockets with the run's TLS certificate: a worker holding its ticket
/// gets a channel both ways, in its own name; the test then plays the stranger (no TLS, another certificate, no or a
/// wrong or a spent ticket, silence, a crowd) and the peer that breaks the protocol once it is in.
/// </summary>
public sealed class DataPortTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(1);
    private readonly string _directory = Repository.NewTempDirectory("data-port");
    private readonly ClusterTls _tls;
    private readonly ProtocolSerializer _serializer;
    private readonly TestProbe _coordinator, _worker;
    private readonly DataPort _port;
    private readonly ConcurrentQueue<string> _warnings = new();
    private readonly List<IDisposable> _open = new();

    public DataPortTests()
    {
        _tls = Certificate("run");
        _serializer = new ProtocolSerializer((ExtendedActorSystem)Sys);
        _coordinator = CreateTestProbe("coordinator");
        _worker = CreateTestProbe("worker");
        _port = DataPort.Start(IPAddress.Loopback, 0, _tls, _serializer, _warnings.Enqueue, HelloTimeout);
        _port.DeliverTo(_coordinator.Ref);
    }

    private ClusterTls Certificate(string name) => ClusterTls.Load(TestCertificates.CreatePfx(_directory, name), TestCertificates.Password);

    private static byte[] Hello(byte[] ticket) => [.. DataChannelHello.Magic, .. ticket];

    private static GradientsComputed Reply(int index) =>
        new(new UnitId(1, 7, UnitKind.MicroBatch, index), new GradientResult(Enumerable.Range(0, 13_032).Select(i => i * 0.5f).ToArray(),
            new float[198], 0.25f, 60, 64), 21.5);

    private static ComputeGradients Work(int step) =>
        new(1, step, step, Enumerable.Range(0, 13_032).Select(i => (float)i).ToArray(), new float[198], [0, 1], []);

    /// <summary>A worker's end of a channel, opened as the worker opens it.</summary>
    private (DataChannel Channel, BlockingCollection<IProtocolMessage> Received, TaskCompletionSource<string> Closed) Connect(byte[] ticket,
        ClusterTls? tls = null)
    {
        var received = new BlockingCollection<IProtocolMessage>();
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var channel = DataChannelHello.ConnectAsync("127.0.0.1", _port.Port, tls ?? _tls, ticket, _serializer, received.Add,
            (_, why) => closed.TrySetResult(why), Wait).GetAwaiter().GetResult();
        _open.Add(channel);
        channel.Start();
        return (channel, received, closed);
    }

    /// <summary>A connection that has proven itself with the ticket, and then sends whatever the test writes.</summary>
    private async Task<SslStream> ProveRaw(byte[] ticket)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _port.Port);
        var ssl = new SslStream(client.GetStream(), false);
        _open.Add(ssl);
        _open.Add(client);
        await ssl.AuthenticateAsClientAsync(_tls.ClientOptions("127.0.0.1"));
        await ssl.WriteAsync(Hello(ticket));
        var answer = new byte[1];
        await ssl.ReadExactlyAsync(answer);
        Assert.Equal(DataChannelHello.Accepted, answer[0]);
        return ssl;
    }

    [Fact]
    public void A_worker_with_its_ticket_gets_a_channel_both_ways_and_its_replies_arrive_in_its_name()
    {
        var (channel, received, _) = Connect(_port.Ticket(_worker.Ref));
        AwaitCondition(() => _port.Open == 1, Wait);

        Assert.True(_port.TrySend(_worker.Ref, Work(3)));
        Assert.True(received.TryTake(out var work, Wait));
        var compute = Assert.IsType<ComputeGradients>(work);
        Assert.Equal(Work(3).Parameters, compute.Parameters);
        Assert.Equal([0, 1], compute.Indices);

        for (var i = 0; i < 3; i++) Assert.True(channel.TrySend(Reply(i)));
        for (var i = 0; i < 3; i++)
        {
            var reply = _coordinator.ExpectMsg<GradientsComputed>(Wait);
            Assert.Equal(_worker.Ref, _coordinator.LastSender);
            Assert.Equal(i, reply.Unit.Index);
            Assert.Equal(Reply(i).Result.Gradients, reply.Result.Gradients);
        }
        Assert.Equal(0, _port.Refused);
        Assert.False(_port.TrySend(CreateTestProbe().Ref, Work(4)), "a worker without a channel is sent nothing through the port");
    }

    [Fact]
    public void A_ticket_opens_one_channel_once_and_a_forgotten_workers_ticket_opens_none()
    {
        var ticket = _port.Ticket(_worker.Ref);
        Assert.Equal(ticket, _port.Ticket(_worker.Ref)); // asked again (a retried join): the same ticket
        Connect(ticket);
        var spent = Assert.Throws<DataChannelException>(() => Connect(ticket));
        Assert.Equal("the coordinator turned the ticket down", spent.Message);

        var gone = CreateTestProbe();
        var voided = _port.Ticket(gone.Ref);
        _port.Forget(gone.Ref);
        Assert.Throws<DataChannelException>(() => Connect(voided));

        _port.Forget(_worker.Ref);
        Assert.False(_port.TrySend(_worker.Ref, Work(1)));
        AwaitCondition(() => _port.Open == 0, Wait);
        Assert.Equal(2, _port.Refused);
    }

    [Fact]
    public async Task Strangers_are_turned_away_and_the_workers_channel_is_untouched()
    {
        var (channel, received, _) = Connect(_port.Ticket(_worker.Ref));

        // Plain TCP with something that looks like a hello: not a TLS handshake, closed.
        using (var plain = new TcpClient())
        {
            await plain.ConnectAsync(IPAddress.Loopback, _port.Port);
            await plain.GetStream().WriteAsync(Hello(new byte[DataChannelHello.TicketBytes]));
            Assert.True(await DataPortStranger.Closed(plain.GetStream(), Wait));
        }
        // Another certificate (another key): the handshake fails on both sides.
        Assert.Throws<DataChannelException>(() => Connect(DataChannelHello.NewTicket(), Certificate("other")));
        // The run's certificate but a guessed ticket: turned down.
        var guessed = Assert.Throws<DataChannelException>(() => Connect(DataChannelHello.NewTicket()));
        Assert.Equal("the coordinator turned the ticket down", guessed.Message);
        // Silence: closed once the hello is overdue.
        using (var silent = new TcpClient())
        {
            await silent.ConnectAsync(IPAddress.Loopback, _port.Port);
            Assert.True(await DataPortStranger.Closed(silent.GetStream(), HelloTimeout + Wait));
        }
        // A crowd of silent connections: past the limit, each is closed on arrival.
        var crowd = new List<TcpClient>();
        try
        {
            for (var i = 0; i < DataPort.MaxUnproven + 4; i++)
            {
                var c = new TcpClient();
                crowd.Add(c);
                await c.ConnectAsync(IPAddress.Loopback, _port.Port);
            }
            var last = crowd[^1].GetStream();
            Assert.True(await DataPortStranger.Closed(last, HelloTimeout / 2), "a connection past the limit waits for nothing");
        }
        finally
        {
            foreach (var c in crowd) c.Dispose();
        }

        // The worker's channel carries on, both ways.
        Assert.True(_port.TrySend(_worker.Ref, Work(5)));
        Assert.True(received.TryTake(out var work, Wait));
        Assert.Equal(5, Assert.IsType<ComputeGradients>(work).Step);
        Assert.True(channel.TrySend(Reply(9)));
        Assert.Equal(9, _coordinator.ExpectMsg<GradientsComputed>(Wait).Unit.Index);
        Assert.True(_port.Refused >= 4 + 4, $"refused {_port.Refused}");
        Assert.Contains(_warnings, w => w.StartsWith("data port refused a connection: "));
        Assert.True(_warnings.Count(w => w.StartsWith("data port refused")) <= 5, "refusals past the fifth are counted, not logged");
    }

    public static TheoryData<string, byte[]> Violations => new()
    {
        { "a frame larger than the limit", Header(DataChannel.MaxFrameBytes + 1, "GC") },
        { "a negative length", Header(-5, "GC") },
        { "an unknown manifest", [.. Header(4, "ZZ"), 1, 2, 3, 4] },
        { "a payload that does not decode", [.. Header(8, "GC"), 1, 2, 3, 4, 5, 6, 7, 8] },
        { "work, which a coordinator never takes", Frame(Work(1)) },
        { "a join request, which goes through the cluster", Frame(new JoinRequest("w", ProtocolInfo.Version, "f", 1, "h")) },
    };

    private static byte[] Header(int length, string manifest)
    {
        var header = new byte[DataChannel.HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(header, length);
        header[4] = (byte)manifest[0];
        header[5] = (byte)manifest[1];
        return header;
    }

    private static byte[] Frame(IProtocolMessage message) => DataChannel.Frame(new ProtocolSerializer(null!), message);

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task A_proven_peer_that_breaks_the_protocol_loses_its_channel_and_delivers_nothing(string what, byte[] bytes)
    {
        var stream = await ProveRaw(_port.Ticket(_worker.Ref));
        AwaitCondition(() => _port.Open == 1, Wait);
        await stream.WriteAsync(bytes);
        await stream.FlushAsync();
        Assert.True(await DataPortStranger.Closed(stream, Wait), what);
        AwaitCondition(() => _port.Open == 0, Wait);
        Assert.False(_port.TrySend(_worker.Ref, Work(1)));
        _coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Contains(_warnings, w => w.StartsWith("data channel of ") && w.Contains(" closed: the peer sent "));
    }

    [Fact]
    public async Task A_peer_that_stops_reading_loses_its_channel_and_never_blocks_the_sender()
    {
        await ProveRaw(_port.Ticket(_worker.Ref)); // and never reads
        AwaitCondition(() => _port.Open == 1, Wait);
        var work = Work(1);
        var sends = Task.Run(() =>
        {
            var sent = 0;
            while (_port.TrySend(_worker.Ref, work)) sent++;
            return sent;
        });
        var sent = await sends.WaitAsync(TimeSpan.FromSeconds(60)); // throws if TrySend blocked on the peer that does not read
        var frame = DataChannel.Frame(_serializer, work).Length;
        Assert.True((long)sent * frame >= DataChannel.MaxPendingBytes, $"gave up after {sent} frames of {frame} bytes");
        Assert.Contains(_warnings, w => w.Contains(" closed: the peer has not taken 64 MiB written to it"));
    }

    [Fact]
    public async Task Without_tls_the_ticket_alone_opens_the_channel()
    {
        using var plain = DataPort.Start(IPAddress.Loopback, 0, null, _serializer, _warnings.Enqueue, HelloTimeout);
        var coordinator = CreateTestProbe();
        plain.DeliverTo(coordinator.Ref);
        var channel = await DataChannelHello.ConnectAsync("127.0.0.1", plain.Port, null, plain.Ticket(_worker.Ref), _serializer, _ => { },
            (_, _) => { }, Wait);
        _open.Add(channel);
        channel.Start();
        Assert.True(channel.TrySend(Reply(2)));
        Assert.Equal(2, coordinator.ExpectMsg<GradientsComputed>(Wait).Unit.Index);
        Assert.Equal(_worker.Ref, coordinator.LastSender);
        await Assert.ThrowsAsync<DataChannelException>(() => DataChannelHello.ConnectAsync("127.0.0.1", plain.Port, null,
            DataChannelHello.NewTicket(), _serializer, _ => { }, (_, _) => { }, Wait));
    }

    [Fact]
    public async Task A_worker_gives_up_on_a_port_that_accepts_and_says_nothing_within_its_timeout()
    {
        // The worker's side blocks on its socket (no asynchronous call): the socket's own timeouts must bound the hello.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var failed = await Assert.ThrowsAsync<DataChannelException>(() => DataChannelHello.ConnectAsync("127.0.0.1", port, _tls,
            DataChannelHello.NewTicket(), _serializer, _ => { }, (_, _) => { }, TimeSpan.FromSeconds(1)));
        Assert.Equal("no answer within 1 s", failed.Message);
        Assert.True(clock.Elapsed < Wait, $"gave up after {clock.Elapsed}");
        silent.Stop();
        var refused = await Assert.ThrowsAsync<DataChannelException>(() => DataChannelHello.ConnectAsync("127.0.0.1", port, _tls,
            DataChannelHello.NewTicket(), _serializer, _ => { }, (_, _) => { }, TimeSpan.FromSeconds(1)));
        Assert.Equal("connection refused", refused.Message);
    }

    [Fact]
    public async Task A_coordinator_that_takes_nothing_closes_a_workers_channel_within_its_send_timeout()
    {
        // A coordinator that answers the hello and then never reads: the worker writes on its own thread, so each
        // write blocks once both socket buffers are full, and the socket's send timeout ends it, closing the channel.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var deaf = Task.Run(async () =>
        {
            var client = await listener.AcceptTcpClientAsync();
            var ssl = new SslStream(client.GetStream(), false);
            await ssl.AuthenticateAsServerAsync(_tls.ServerOptions());
            await ssl.ReadExactlyAsync(new byte[DataChannelHello.Length]);
            await ssl.WriteAsync(new[] { DataChannelHello.Accepted });
            return (client, ssl);
        });
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var channel = await DataChannelHello.ConnectAsync("127.0.0.1", port, _tls, DataChannelHello.NewTicket(), _serializer, _ => { },
            (_, why) => closed.TrySetResult(why), TimeSpan.FromSeconds(5));
        _open.Add(channel);
        var (client, ssl) = await deaf;
        using (client)
        await using (ssl)
        {
            var sent = await Task.Run(() =>
            {
                var n = 0;
                while (channel.TrySend(Reply(n)) && n < 100_000) n++;
                return n;
            }).WaitAsync(Wait);
            Assert.True(sent < 100_000, "the writes never failed");
            Assert.StartsWith("writing failed", await closed.Task.WaitAsync(Wait));
            Assert.False(channel.IsOpen);
        }
    }

    [Fact]
    public void A_runs_data_port_takes_the_port_after_akkas_another_if_that_is_taken_and_a_given_one_or_none()
    {
        // Held: the port after a fixed Akka port, and so also a --data-port that names it.
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port;

        using var moved = DataPort.StartForRun(IPAddress.Loopback, null, taken - 1, _tls, _serializer, _warnings.Enqueue, out var from);
        Assert.Equal(taken, from);
        Assert.NotEqual(taken, moved.Port);
        Assert.Throws<SocketException>(() => DataPort.StartForRun(IPAddress.Loopback, taken, 0, _tls, _serializer, _warnings.Enqueue, out _));
        using var any = DataPort.StartForRun(IPAddress.Loopback, null, 0, _tls, _serializer, _warnings.Enqueue, out var none);
        Assert.Null(none);
        Assert.NotEqual(0, any.Port);
        holder.Stop();
        using var next = DataPort.StartForRun(IPAddress.Loopback, null, taken - 1, _tls, _serializer, _warnings.Enqueue, out var stayed);
        Assert.Null(stayed);
        Assert.Equal(taken, next.Port);
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var d in _open) d.Dispose();
        _port.Dispose();
        base.Dispose(disposing);
    }
}
