using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Transport;

namespace DataParallel.Tests.Support;

/// <summary>
/// A local process without a ticket playing the stranger against a run's data port: a hello with a guessed ticket
/// over plain TCP, a frame header announcing 2 GB, a TLS handshake with a certificate of its own, and silence. Each
/// connection must be closed by the coordinator.
/// </summary>
public static partial class DataPortStranger
{
    /// <summary>The data port a coordinator printed ("data channel listening at HOST:PORT").</summary>
    public static int PortOf(ProgramProcess coordinator) => int.Parse(DataPortLine().Match(coordinator.Stdout).Groups[1].Value);

    /// <summary>Runs every attempt; returns those the port did not close within <paramref name="within"/> (none, if all is well).</summary>
    public static async Task<List<string>> AttackAsync(int port, ClusterTls? ownCertificate, TimeSpan within)
    {
        var open = new List<string>();
        var huge = new byte[DataChannel.HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(huge, int.MaxValue);
        var attempts = new List<(string What, byte[] Bytes, bool Tls)>
        {
            ("a guessed ticket over plain TCP", [.. DataChannelHello.Magic, .. DataChannelHello.NewTicket()], false),
            ("a 2 GB frame header", huge, false),
            ("silence", [], false),
        };
        if (ownCertificate is not null)
            attempts.Add(("a hello over TLS with a certificate of its own", [.. DataChannelHello.Magic, .. new byte[32]], true));
        foreach (var (what, bytes, tls) in attempts)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            Stream stream = client.GetStream();
            try
            {
                if (tls)
                {
                    var ssl = new SslStream(stream, false);
                    stream = ssl;
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = "127.0.0.1",
                        ClientCertificates = [ownCertificate!.Certificate],
                        RemoteCertificateValidationCallback = (_, _, _, _) => true, // the stranger trusts anybody
                    });
                }
                if (bytes.Length > 0) await stream.WriteAsync(bytes);
                if (!await Closed(stream, within)) open.Add(what);
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
            {
                // Turned away during the handshake or the write: closed, as it should be.
            }
        }
        return open;
    }

    /// <summary>True when the other end closes the connection (end of stream or a reset) within the time given.</summary>
    public static async Task<bool> Closed(Stream stream, TimeSpan within)
    {
        using var deadline = new CancellationTokenSource(within);
        var buffer = new byte[64];
        try
        {
            while (await stream.ReadAsync(buffer, deadline.Token) > 0) { }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    [GeneratedRegex(@"data channel listening at \S+:(\d+) ")]
    private static partial Regex DataPortLine();
}
