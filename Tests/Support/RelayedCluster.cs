using System.Net;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Security;

namespace DataParallel.Tests.Support;

/// <summary>
/// A coordinator and workers on separate machines of a <see cref="NamespaceNetwork"/>, with mutual TLS and a join
/// token, every connection slowed by a <see cref="DelayRelay"/>. Each program binds loopback inside its own
/// namespace and advertises its machine's address (--public-host), where the machine's relay listens on the
/// same port and forwards inwards. So whoever connects to a node, in whichever direction, goes through that
/// node's relay: each message crosses exactly one relay, one way, and a round trip costs twice the delay. The
/// coordinator's data port (<see cref="DataPort"/>, the default next to Akka's) has a relay of its own unless the
/// cluster is made without it: then the workers cannot open their data channels, as behind a firewall that opens
/// only Akka's port.
/// </summary>
public sealed class RelayedCluster : IDisposable
{
    public const int Port = 4053;
    public const int DataPort = Port + 1;
    public const string Coordinator = "coord";
    private const string TokenValue = "multi-host-join-token";
    private readonly List<DelayRelay> _relays = new();
    private readonly List<ProgramProcess> _processes = new();
    private readonly DelayRelay? _dataRelay;

    public RelayedCluster(TimeSpan oneWayDelay, params string[] workers) : this(oneWayDelay, dataRelay: true, workers) { }

    public RelayedCluster(TimeSpan oneWayDelay, bool dataRelay, params string[] workers)
    {
        Directory = Repository.NewTempDirectory("multihost");
        Certificate = TestCertificates.CreatePfx(Directory, "cluster");
        Network = NamespaceNetwork.Create([Coordinator, .. workers]);
        try
        {
            foreach (var host in Network.Hosts)
                _relays.Add(DelayRelay.Start(host.Namespace,
                    new IPEndPoint(IPAddress.Parse(host.Address), Port), new IPEndPoint(IPAddress.Loopback, Port), oneWayDelay));
            var coordinator = Network[Coordinator];
            if (dataRelay)
                _dataRelay = DelayRelay.Start(coordinator.Namespace,
                    new IPEndPoint(IPAddress.Parse(coordinator.Address), DataPort), new IPEndPoint(IPAddress.Loopback, DataPort), oneWayDelay);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NamespaceNetwork Network { get; }
    public string Directory { get; }
    public string Certificate { get; }
    public string RunDirectory => Path.Combine(Directory, "run");
    public string Seed => $"{Network[Coordinator].Address}:{Port}";

    /// <summary>Bytes each relay forwarded, by host.</summary>
    public IReadOnlyDictionary<string, long> RelayedBytes => Network.Hosts.Zip(_relays).ToDictionary(p => p.First.Name, p => p.Second.Bytes);

    /// <summary>Bytes the relay of the coordinator's data port forwarded (0 without one).</summary>
    public long DataRelayedBytes => _dataRelay?.Bytes ?? 0;

    /// <summary>The secrets reach the programs through the environment, as a deployment gives them.</summary>
    private static Dictionary<string, string?> Secrets => new()
    {
        [JoinToken.EnvironmentVariable] = TokenValue,
        [ClusterTls.PasswordVariable] = TestCertificates.Password,
    };

    /// <summary>`train --external` on the coordinator's machine, waiting for <paramref name="workers"/>.</summary>
    public ProgramProcess StartCoordinator(int workers, params string[] args) => Track(ProgramProcess.Start("Coordinator",
        ["train", "--data", Repository.MnistDirectory, "--out", RunDirectory, "--external", "--workers", workers.ToString(),
         "--host", "127.0.0.1", "--public-host", Network[Coordinator].Address, "--port", Port.ToString(), "--tls-certificate", Certificate, .. args],
        environment: Secrets, launcher: NamespaceNetwork.Exec(Network[Coordinator])));

    /// <summary>A worker on the machine named <paramref name="host"/>, with that name as its id.</summary>
    public ProgramProcess StartWorker(string host, params string[] args) => Track(ProgramProcess.Start("Worker",
        ["--seed", Seed, "--host", "127.0.0.1", "--public-host", Network[host].Address, "--port", Port.ToString(),
         "--id", host, "--threads", "1", "--tls-certificate", Certificate, .. args],
        environment: Secrets, launcher: NamespaceNetwork.Exec(Network[host])));

    /// <summary>Everything every program printed, for a failure message.</summary>
    public string Output => string.Join("\n", _processes.Select(p =>
        $"--- {string.Join(' ', p.Process.StartInfo.ArgumentList.Take(9))}\nstdout:\n{p.Stdout}\nstderr:\n{p.Stderr}"));

    private ProgramProcess Track(ProgramProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        foreach (var r in _relays) r.Dispose();
        _dataRelay?.Dispose();
        Network?.Dispose();
    }
}
