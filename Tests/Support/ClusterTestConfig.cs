using Akka.Configuration;
using DataParallel.Shared.Cluster;

namespace DataParallel.Tests.Support;

public static class ClusterTestConfig
{
    /// <summary>A single cluster node on a free loopback port, with the shared HOCON (serializer, dispatchers, SBR).</summary>
    public static Config Node(string role = ClusterConfig.CoordinatorRole) =>
        ClusterConfig.Node(role, new NodeEndpoint("127.0.0.1", 0), [], Config.Empty,
            "akka.loglevel = WARNING\nakka.test.timefactor = 2\nakka.cluster.min-nr-of-members = 1");
}
