using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Akka.Actor;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Serialization;
using DataParallel.Shared.Transport;

namespace DataParallel.Coordinator.Transport;

/// <summary>
/// The coordinator's listener for data channels (<see cref="DataChannel"/>). Whoever connects is a stranger until it
/// has completed TLS with the run's certificate and presented a ticket this port issued to an accepted worker, all
/// within a hello timeout (5 s); at most <see cref="MaxUnproven"/> connections may be at that stage at once, the
/// others are closed on arrival. A ticket is good once, for the worker it was made for; its replies are then delivered
/// to the coordinator in that worker's name. Thread-safe: the coordinator's actors call it, connections arrive on
/// the thread pool.
/// </summary>
public sealed class DataPort : IDisposable
{
    public static readonly TimeSpan DefaultHelloTimeout = TimeSpan.FromSeconds(5);
    public const int MaxUnproven = 16;

    private readonly TcpListener _listener;
    private readonly ClusterTls? _tls;
    private readonly ProtocolSerializer _serializer;
    private readonly Action<string> _warn;
    private readonly TimeSpan _helloTimeout;
    private readonly ConcurrentDictionary<string, IActorRef> _tickets = new();
    private readonly ConcurrentDictionary<IActorRef, byte[]> _ticketOf = new();
    private readonly ConcurrentDictionary<IActorRef, DataChannel> _channels = new();
    private readonly CancellationTokenSource _stop = new();
    private IActorRef _coordinator = ActorRefs.Nobody;
    private int _unproven, _refused;

    private DataPort(TcpListener listener, ClusterTls? tls, ProtocolSerializer serializer, Action<string> warn, TimeSpan helloTimeout)
    {
        (_listener, _tls, _serializer, _warn, _helloTimeout) = (listener, tls, serializer, warn, helloTimeout);
        _ = AcceptAsync();
    }

    /// <summary>Listens on host:port (0: any free port). Throws <see cref="SocketException"/> if it cannot.</summary>
    public static DataPort Start(IPAddress address, int port, ClusterTls? tls, ProtocolSerializer serializer, Action<string> warn,
        TimeSpan? helloTimeout = null)
    {
        var listener = new TcpListener(address, port);
        listener.Start(backlog: 64);
        return new DataPort(listener, tls, serializer, warn, helloTimeout ?? DefaultHelloTimeout);
    }

    /// <summary>
    /// A run's data port: on <paramref name="dataPort"/> (--data-port) if one is given; else on the port after a fixed
    /// Akka port, so that one firewall rule can name both, or on any free port if that one is taken (then
    /// <paramref name="movedFrom"/> says which was); else on any free port. Throws <see cref="SocketException"/> if a
    /// given --data-port cannot be listened on.
    /// </summary>
    public static DataPort StartForRun(IPAddress address, int? dataPort, int akkaPort, ClusterTls? tls, ProtocolSerializer serializer,
        Action<string> warn, out int? movedFrom)
    {
        movedFrom = null;
        if (dataPort is { } given) return Start(address, given, tls, serializer, warn);
        var next = akkaPort is > 0 and < 65535 ? akkaPort + 1 : 0;
        try
        {
            return Start(address, next, tls, serializer, warn);
        }
        catch (SocketException) when (next != 0)
        {
            movedFrom = next;
            return Start(address, 0, tls, serializer, warn);
        }
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public bool Tls => _tls is not null;

    /// <summary>Connections turned away so far: no TLS, another certificate, no or a wrong ticket, too slow, too many.</summary>
    public int Refused => Volatile.Read(ref _refused);

    /// <summary>Workers with an open channel.</summary>
    public int Open => _channels.Count;

    /// <summary>Where the workers' replies go, in their names.</summary>
    public void DeliverTo(IActorRef coordinator) => _coordinator = coordinator;

    /// <summary>The ticket for this worker's channel: the same one until it is used or the worker is forgotten.</summary>
    public byte[] Ticket(IActorRef worker) => _ticketOf.GetOrAdd(worker, w =>
    {
        var ticket = DataChannelHello.NewTicket();
        _tickets[Key(ticket)] = w;
        return ticket;
    });

    /// <summary>Sends through the worker's channel; false if it has none open (send through Akka.Remote).</summary>
    public bool TrySend(IActorRef worker, IProtocolMessage message) => _channels.TryGetValue(worker, out var channel) && channel.TrySend(message);

    /// <summary>The worker is out of the run: its ticket is void and its channel closed.</summary>
    public void Forget(IActorRef worker)
    {
        if (_ticketOf.TryRemove(worker, out var ticket)) _tickets.TryRemove(Key(ticket), out _);
        if (_channels.TryRemove(worker, out var channel)) channel.Dispose();
    }

    // A ticket's hash as the key, so that looking a presented ticket up says nothing about the real ones by its timing.
    private static string Key(ReadOnlySpan<byte> ticket) => Convert.ToHexString(SHA256.HashData(ticket));

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            if (Interlocked.Increment(ref _unproven) > MaxUnproven)
            {
                Interlocked.Decrement(ref _unproven);
                Refuse(socket, null, "too many connections are proving themselves already");
                continue;
            }
            _ = ProveAsync(socket);
        }
    }

    private async Task ProveAsync(Socket socket)
    {
        var peer = socket.RemoteEndPoint?.ToString() ?? "?";
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            deadline.CancelAfter(_helloTimeout);
            if (_tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsServerAsync(_tls.ServerOptions(), deadline.Token);
            }
            var hello = new byte[DataChannelHello.Length];
            if (await stream.ReadAtLeastAsync(hello, hello.Length, throwOnEndOfStream: false, deadline.Token) < hello.Length
                || !hello.AsSpan(0, DataChannelHello.Magic.Length).SequenceEqual(DataChannelHello.Magic))
            {
                Refuse(socket, stream, $"{peer} sent no data-channel hello");
                return;
            }
            if (!_tickets.TryRemove(Key(hello.AsSpan(DataChannelHello.Magic.Length)), out var worker))
            {
                Refuse(socket, stream, $"{peer} presented no valid ticket");
                return;
            }
            await stream.WriteAsync(new[] { DataChannelHello.Accepted }, deadline.Token);
            var coordinator = _coordinator;
            var channel = new DataChannel(stream, socket, peer, _serializer, DataChannelHello.CoordinatorTakes,
                message => coordinator.Tell(message, worker),
                (closed, why) =>
                {
                    // A worker that exits closes its end; whether it left the run is the cluster's to say. Anything else is worth a line.
                    if (_channels.TryRemove(KeyValuePair.Create(worker, closed)) && why != DataChannel.ClosedByPeer)
                        _warn($"data channel of {worker.Path.Address} closed: {why}");
                });
            if (_channels.TryGetValue(worker, out var old)) old.Dispose();
            _channels[worker] = channel;
            // Forgotten while it proved itself: it is out of the run.
            if (!_ticketOf.ContainsKey(worker) && _channels.TryRemove(KeyValuePair.Create(worker, channel))) channel.Dispose();
            else channel.Start();
        }
        catch (Exception e)
        {
            var why = e is OperationCanceledException ? $"no hello within {_helloTimeout.TotalSeconds:0.#} s" : e.GetBaseException().Message;
            Refuse(socket, stream, $"{peer}: {why}");
        }
        finally
        {
            Interlocked.Decrement(ref _unproven);
        }
    }

    private void Refuse(Socket socket, Stream? stream, string why)
    {
        var count = Interlocked.Increment(ref _refused);
        // A stranger can connect as often as it likes: the first refusals are logged, the rest only counted.
        if (count <= 5) _warn($"data port refused a connection: {why}" + (count == 5 ? " (further refusals are not logged)" : ""));
        try { stream?.Dispose(); } catch (Exception) { /* closing is all that is left */ }
        socket.Dispose();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        foreach (var channel in _channels.Values) channel.Dispose();
        _channels.Clear();
    }
}
