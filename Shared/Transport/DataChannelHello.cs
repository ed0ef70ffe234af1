using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Protocol;
using DataParallel.Shared.Serialization;

namespace DataParallel.Shared.Transport;

/// <summary>
/// How a worker opens its data channel: TLS with the run's certificate (unless the run has none: loopback with
/// --no-tls), then a hello of 4 magic bytes and the ticket its JoinAccepted carried, answered by one byte. The ticket
/// is 32 random bytes made for that worker's incarnation and sent only to it, through the join it proved; whoever
/// holds it has the worker's place on the channel, which is why it is used once.
/// </summary>
public static class DataChannelHello
{
    public const int TicketBytes = 32;
    public const byte Accepted = 1;
    public static ReadOnlySpan<byte> Magic => "DPD1"u8;
    public static int Length => Magic.Length + TicketBytes;

    public static byte[] NewTicket() => RandomNumberGenerator.GetBytes(TicketBytes);

    /// <summary>What the worker may be sent through its channel: the work messages, nothing else.</summary>
    public static bool WorkerTakes(object message) => message is ComputeGradients or PrefetchBatches or EvaluateChunk or TrainReplica;

    /// <summary>What the coordinator takes from a worker's channel: replies about units, nothing else.</summary>
    public static bool CoordinatorTakes(object message) => message is IUnitReply;

    /// <summary>
    /// Connects to the coordinator's data port and presents the ticket. Throws <see cref="DataChannelException"/> with
    /// the reason when the port does not answer, presents another certificate, or turns the ticket down.
    /// </summary>
    /// <remarks>
    /// Every call on the socket blocks, on a thread of its own here and on the channel's threads later: a .NET socket
    /// that sees one asynchronous call is handed to the runtime's epoll thread for good, and then each TLS record sent
    /// or received woke that thread, and each read went through it to the reading thread, on the worker's one core.
    /// Connect, handshake and hello are bounded by <paramref name="timeout"/> through the socket's own timeouts.
    /// </remarks>
    public static Task<DataChannel> ConnectAsync(string host, int port, ClusterTls? tls, byte[] ticket, ProtocolSerializer serializer,
        Action<IProtocolMessage> deliver, Action<DataChannel, string> closed, TimeSpan timeout) =>
        Task.Factory.StartNew(() => Connect(host, port, tls, ticket, serializer, deliver, closed, timeout), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static DataChannel Connect(string host, int port, ClusterTls? tls, byte[] ticket, ProtocolSerializer serializer,
        Action<IProtocolMessage> deliver, Action<DataChannel, string> closed, TimeSpan timeout)
    {
        var milliseconds = (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendTimeout = milliseconds, ReceiveTimeout = milliseconds };
        // The socket's timeouts bound each call (Linux bounds a blocking connect by the send timeout); the timer bounds
        // them all together, closing the socket under a handshake that a peer drags out byte by byte.
        var state = 0; // 0 connecting, 1 connected, 2 timed out
        using var deadline = new Timer(_ =>
        {
            if (Interlocked.CompareExchange(ref state, 2, 0) == 0) socket.Dispose();
        }, null, milliseconds, Timeout.Infinite);
        Stream? stream = null;
        try
        {
            socket.Connect(host, port);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                ssl.AuthenticateAsClient(tls.ClientOptions(host));
            }
            var hello = new byte[Length];
            Magic.CopyTo(hello);
            ticket.CopyTo(hello, Magic.Length);
            stream.Write(hello);
            var answer = new byte[1];
            if (stream.ReadAtLeast(answer, 1, throwOnEndOfStream: false) < 1 || answer[0] != Accepted)
                throw new DataChannelException("the coordinator turned the ticket down");
            if (Interlocked.CompareExchange(ref state, 1, 0) != 0) throw new TimeoutException();
            // Reads wait for work as long as the run lasts. Writes keep the timeout: a coordinator that takes nothing for
            // that long is gone, and the channel closes (the work goes on through Akka.Remote).
            socket.ReceiveTimeout = 0;
            return new DataChannel(stream, socket, $"{host}:{port}", serializer, WorkerTakes, deliver, closed, blockingWrites: true);
        }
        catch (Exception e) when (e is not DataChannelException)
        {
            stream?.Dispose();
            socket.Dispose();
            throw new DataChannelException(e switch
            {
                _ when Volatile.Read(ref state) == 2 || IsTimeout(e) => $"no answer within {timeout.TotalSeconds:0} s",
                SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connection refused",
                AuthenticationException => "the TLS handshake failed (another certificate)",
                _ => e.GetBaseException().Message,
            });
        }
        catch
        {
            stream?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    private static bool IsTimeout(Exception e) =>
        e is TimeoutException
        || e.GetBaseException() is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.InProgress or SocketError.WouldBlock };
}

/// <summary>A data channel that could not be opened; the message says why.</summary>
public sealed class DataChannelException(string message) : Exception(message);
