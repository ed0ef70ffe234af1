using System.Diagnostics;

namespace DataParallel.Tests.Support;

/// <summary>
/// Machines on a switch, made of network namespaces: each host is a namespace with one address on
/// 10.231.0.0/24 and a veth cable into a bridge that lives in a namespace of its own, so nothing touches the
/// host's network (no default route, no NAT). Pulling a cable is <c>ip link set PORT down</c> on the switch.
/// Names carry the test process's id: a later run removes the namespaces of a run that was killed, and leaves
/// those of a run still going.
/// </summary>
public sealed class NamespaceNetwork : IDisposable
{
    private const string Prefix = "dpmh-";
    private readonly string _name = $"{Prefix}{Environment.ProcessId}";
    private readonly List<NetworkHost> _hosts = new();

    private NamespaceNetwork() { }

    public IReadOnlyList<NetworkHost> Hosts => _hosts;
    public string Switch => $"{_name}-sw";

    public NetworkHost this[string name] => _hosts.Single(h => h.Name == name);

    /// <summary>A bridge and one namespace per host name, addressed 10.231.0.1, .2, ... in the order given.</summary>
    public static NamespaceNetwork Create(params string[] hostNames)
    {
        RemoveStale();
        var network = new NamespaceNetwork();
        try
        {
            try { Ip("netns", "add", network.Switch); }
            catch (InvalidOperationException e)
            {
                throw new InvalidOperationException("this test needs network namespaces (root with CAP_SYS_ADMIN and iproute2's `ip`), "
                    + $"and they cannot be created here: {e.Message}", e);
            }
            Ip("-n", network.Switch, "link", "add", "br0", "type", "bridge");
            Ip("-n", network.Switch, "link", "set", "br0", "up");
            for (var i = 0; i < hostNames.Length; i++)
            {
                var host = new NetworkHost(hostNames[i], $"{network._name}-{hostNames[i]}", $"10.231.0.{i + 1}");
                network._hosts.Add(host);
                Ip("netns", "add", host.Namespace);
                Ip("-n", host.Namespace, "link", "set", "lo", "up");
                // The switch's end is named after the host; the host's end is eth0, as on a machine.
                Ip("-n", network.Switch, "link", "add", host.Name, "type", "veth", "peer", "name", "eth0", "netns", host.Namespace);
                Ip("-n", network.Switch, "link", "set", host.Name, "master", "br0", "up");
                Ip("-n", host.Namespace, "addr", "add", $"{host.Address}/24", "dev", "eth0");
                Ip("-n", host.Namespace, "link", "set", "eth0", "up");
            }
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Pulls the host's cable out of the switch: its packets go nowhere, its connections hang.</summary>
    public void Cut(string host) => Ip("-n", Switch, "link", "set", this[host].Name, "down");

    public void Restore(string host) => Ip("-n", Switch, "link", "set", this[host].Name, "up");

    /// <summary>The command prefix that runs a program inside the host's namespace (it execs: the pid stays the program's).</summary>
    public static string[] Exec(NetworkHost host) => ["ip", "netns", "exec", host.Namespace];

    public void Dispose()
    {
        foreach (var ns in _hosts.Select(h => h.Namespace).Append(Switch)) Delete(ns);
    }

    /// <summary>Namespaces of test runs whose process is gone (killed before it could clean up).</summary>
    private static void RemoveStale()
    {
        string list;
        try { list = Run("ip", "netns", "list"); }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { return; }
        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var ns = line.Split(' ')[0];
            if (!ns.StartsWith(Prefix)) continue;
            var pid = ns[Prefix.Length..].Split('-')[0];
            if (int.TryParse(pid, out var owner) && !Signals.Alive(owner)) Delete(ns);
        }
    }

    /// <summary>Kills what still runs in the namespace, then deletes it (which also removes its end of every cable).</summary>
    private static void Delete(string ns)
    {
        try
        {
            foreach (var pid in Run("ip", "netns", "pids", ns).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
                try { Signals.Send(pid, Signals.SIGKILL); } catch (InvalidOperationException) { }
            Run("ip", "netns", "delete", ns);
        }
        catch (InvalidOperationException) { } // already gone
    }

    private static void Ip(params string[] args) => Run("ip", args);

    private static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"`{program} {string.Join(' ', args)}` failed (exit {process.ExitCode}): {stderr.Trim()}");
        return stdout.Result;
    }
}

/// <summary>One machine of a <see cref="NamespaceNetwork"/>: its name, namespace and address.</summary>
public sealed record NetworkHost(string Name, string Namespace, string Address);
