using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using DataParallel.Shared.Cluster;

namespace DataParallel.Coordinator.Launch;

/// <summary>
/// Whether the coordinator can open a connection of its own to the address a worker advertises. Akka.Remote answers
/// a worker over the connection the worker opened, so a worker that advertises an address nobody can reach (the
/// wrong network card, a NAT, a container's inner address) trains until that connection drops and is then lost for
/// good, with messages to its advertised name dropped silently. Checked when it joins, it is refused at once with
/// the address to fix. With TLS the probe completes a handshake with the run's certificate: the worker sees a peer it
/// trusts open and close a connection, not a stranger.
/// </summary>
public static class ReachBack
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Null when host:port accepts a connection (and, with TLS, presents the run's certificate); else why not.</summary>
    public static async Task<string?> ProbeAsync(string host, int port, ClusterTls? tls, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(host, port, deadline.Token);
            if (tls is null) return null;
            await using var stream = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
            await stream.AuthenticateAsClientAsync(tls.ClientOptions(host), deadline.Token);
            return null;
        }
        catch (OperationCanceledException)
        {
            return $"no answer within {timeout.TotalSeconds:0} s";
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused: nothing listens there",
                SocketError.HostNotFound or SocketError.NoData => "no such host",
                SocketError.NetworkUnreachable or SocketError.HostUnreachable => "no route to it",
                _ => e.Message,
            };
        }
        catch (AuthenticationException)
        {
            return "something answers there, but not with this run's TLS certificate";
        }
        catch (IOException e)
        {
            return $"the connection closed during the TLS handshake ({e.Message})";
        }
    }

    /// <summary>The reason a worker is refused, naming the address and what to change.</summary>
    public static string Refusal(string host, int port, string why) =>
        $"the coordinator cannot reach this worker back at {host}:{port}, the address it advertises ({why}); "
        + "start the worker with --public-host set to an address of its machine that the coordinator can reach, "
        + "and that port open to it";
}
