using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;

namespace DataParallel.Shared.Cluster;

/// <summary>Where a node listens and which seed it joins; everything else comes from HOCON.</summary>
public sealed record NodeEndpoint(string Host, int Port, string? PublicHost = null);

/// <summary>Builds a node's configuration: command-line overrides, then the role's HOCON, then the shared cluster.hocon.</summary>
public static class ClusterConfig
{
    public const string SystemName = "dataparallel";
    public const string CoordinatorRole = "coordinator";
    public const string WorkerRole = "worker";
    public const string CoordinatorPath = "/user/coordinator";

    public static Config Shared()
    {
        using var stream = typeof(ClusterConfig).Assembly.GetManifestResourceStream("cluster.hocon")
            ?? throw new InvalidOperationException("cluster.hocon is not embedded in DataParallel.Shared");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    /// <summary>A role's HOCON file next to the program (coordinator.hocon, worker.hocon), if it is there.</summary>
    public static Config RoleFile(string fileName)
    {
        var path = Path.Combine(AppContext.BaseDirectory, fileName);
        return File.Exists(path) ? ConfigurationFactory.ParseString(File.ReadAllText(path)) : Config.Empty;
    }

    public static Config Node(string role, NodeEndpoint endpoint, IEnumerable<string> seeds, Config roleConfig, string? extra = null)
    {
        var seedList = string.Join(", ", seeds.Select(s => $"\"{s}\""));
        var overrides = $$"""
            akka.cluster.roles = ["{{role}}"]
            akka.cluster.seed-nodes = [{{seedList}}]
            akka.remote.dot-netty.tcp.hostname = "{{endpoint.Host}}"
            akka.remote.dot-netty.tcp.port = {{endpoint.Port}}
            {{(endpoint.PublicHost is null ? "" : $"akka.remote.dot-netty.tcp.public-hostname = \"{endpoint.PublicHost}\"")}}
            {{extra ?? ""}}
            """;
        return ConfigurationFactory.ParseString(overrides).WithFallback(roleConfig).WithFallback(Shared());
    }

    /// <summary>
    /// Starts a node. TLS enters here only, HOCON switch and certificate together, so a node never has one without
    /// the other (the switch alone fails at start for want of a certificate; the certificate alone would be ignored).
    /// </summary>
    /// <param name="extra">Further setups for the system (e.g. where the console logger writes).</param>
    public static ActorSystem Start(Config config, ClusterTls? tls, params Setup[] extra)
    {
        var withTls = tls is null ? config : ConfigurationFactory.ParseString(ClusterTls.Hocon).WithFallback(config);
        Setup[] setups = [BootstrapSetup.Create().WithConfig(withTls), .. (tls is null ? Array.Empty<Setup>() : [tls.Setup()]), .. extra];
        return ActorSystem.Create(SystemName, ActorSystemSetup.Create(setups));
    }

    /// <summary>With TLS, Akka.Remote's transport answers only to the akka.ssl.tcp scheme.</summary>
    public static string Address(string host, int port, bool tls = false) => $"akka{(tls ? ".ssl" : "")}.tcp://{SystemName}@{host}:{port}";

    public static string CoordinatorAddress(string host, int port, bool tls = false) => Address(host, port, tls) + CoordinatorPath;
}
