using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using DataParallel.Coordinator.Launch;
using DataParallel.Shared.Cluster;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Transport;

/// <summary>
/// The coordinator's connection back to a joining worker's advertised address, against real listeners on loopback:
/// one that presents the run's certificate, one with another certificate, one that closes at once, and none at all.
/// </summary>
public sealed class ReachBackTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly string _directory = Repository.NewTempDirectory("reach-back");
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public ReachBackTests() => _listener.Start();

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private ClusterTls Certificate(string name) => ClusterTls.Load(TestCertificates.CreatePfx(_directory, name), TestCertificates.Password);

    /// <summary>Accepts one connection and answers as a TLS server with the given certificate, requiring the client's.</summary>
    private async Task<bool> ServeTls(ClusterTls server)
    {
        using var client = await _listener.AcceptTcpClientAsync();
        await using var stream = new SslStream(client.GetStream(), false);
        try
        {
            await stream.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = server.Certificate,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            });
            return stream.RemoteCertificate is not null;
        }
        catch (Exception)
        {
            return false; // the probe turned this listener away
        }
    }

    [Fact]
    public async Task A_listener_with_the_runs_certificate_is_reached_and_sees_that_certificate()
    {
        var run = Certificate("run");
        var served = ServeTls(run);
        Assert.Null(await ReachBack.ProbeAsync("127.0.0.1", Port, run, Timeout));
        Assert.True(await served, "the listener did not see the client certificate");
    }

    [Fact]
    public async Task A_listener_with_another_certificate_is_not_the_worker()
    {
        var served = ServeTls(Certificate("other"));
        Assert.Equal("something answers there, but not with this run's TLS certificate",
            await ReachBack.ProbeAsync("127.0.0.1", Port, Certificate("run"), Timeout));
        await served;
    }

    [Fact]
    public async Task A_listener_that_closes_at_once_is_named_as_such()
    {
        var accepted = Task.Run(async () => (await _listener.AcceptTcpClientAsync()).Dispose());
        Assert.StartsWith("the connection closed during the TLS handshake",
            await ReachBack.ProbeAsync("127.0.0.1", Port, Certificate("run"), Timeout));
        await accepted;
    }

    [Fact]
    public async Task Without_TLS_a_connection_is_enough_and_none_is_refused()
    {
        var accepted = _listener.AcceptTcpClientAsync();
        Assert.Null(await ReachBack.ProbeAsync("127.0.0.1", Port, null, Timeout));
        (await accepted).Dispose();
        var port = Port;
        _listener.Stop();
        Assert.Equal("connection refused: nothing listens there", await ReachBack.ProbeAsync("127.0.0.1", port, null, Timeout));
    }

    [Fact]
    public void The_refusal_names_the_address_and_the_option_to_fix()
    {
        var text = ReachBack.Refusal("10.0.0.6", 4054, "no answer within 5 s");
        Assert.Contains("cannot reach this worker back at 10.0.0.6:4054, the address it advertises (no answer within 5 s)", text);
        Assert.Contains("--public-host", text);
    }

    public void Dispose()
    {
        _listener.Stop();
        Directory.Delete(_directory, recursive: true);
    }
}
