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
    public static async Task<DataChannel> ConnectAsync(string host, int port, ClusterTls? tls, byte[] ticket, ProtocolSerializer serializer,
        Action<IProtocolMessage> deliver, Action<DataChannel, string> closed, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var client = new TcpClient { NoDelay = true };
        Stream? stream = null;
        try
        {
            await client.ConnectAsync(host, port, deadline.Token);
            stream = client.GetStream();
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host), deadline.Token);
            }
            var hello = new byte[Length];
            Magic.CopyTo(hello);
            ticket.CopyTo(hello, Magic.Length);
            await stream.WriteAsync(hello, deadline.Token);
            var answer = new byte[1];
            if (await stream.ReadAtLeastAsync(answer, 1, throwOnEndOfStream: false, deadline.Token) < 1 || answer[0] != Accepted)
                throw new DataChannelException("the coordinator turned the ticket down");
            return new DataChannel(stream, client.Client, $"{host}:{port}", serializer, WorkerTakes, deliver, closed);
        }
        catch (Exception e) when (e is not DataChannelException)
        {
            stream?.Dispose();
            client.Dispose();
            throw new DataChannelException(e switch
            {
                OperationCanceledException => $"no answer within {timeout.TotalSeconds:0} s",
                SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connection refused",
                AuthenticationException => "the TLS handshake failed (another certificate)",
                _ => e.GetBaseException().Message,
            });
        }
        catch
        {
            stream?.Dispose();
            client.Dispose();
            throw;
        }
    }
}

/// <summary>A data channel that could not be opened; the message says why.</summary>
public sealed class DataChannelException(string message) : Exception(message);
