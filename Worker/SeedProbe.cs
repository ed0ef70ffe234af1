using System.Net.Sockets;

namespace DataParallel.Worker;

/// <summary>
/// Why the coordinator's address cannot be reached, in words a user can act on. Asked only when joining is slow, so
/// a healthy start opens no extra connection.
/// </summary>
public static class SeedProbe
{
    public static readonly TimeSpan SlowJoin = TimeSpan.FromSeconds(5);

    /// <summary>Null when a TCP connection to host:port opens within <paramref name="timeout"/>; else the reason.</summary>
    public static async Task<string?> Problem(string host, int port, TimeSpan timeout)
    {
        using var client = new TcpClient();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await client.ConnectAsync(host, port, deadline.Token);
            return null;
        }
        catch (OperationCanceledException)
        {
            return $"no answer within {timeout.TotalSeconds:F0} s (a firewall, or no machine at that address)";
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused (nothing listens on that port)",
                SocketError.HostNotFound or SocketError.NoData => "no such host",
                SocketError.NetworkUnreachable or SocketError.HostUnreachable => "no route to it",
                _ => e.Message,
            };
        }
    }
}
