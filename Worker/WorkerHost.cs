using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Remote;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Native;
using DataParallel.Shared.Actors;
using DataParallel.Shared.Settings;
using DataParallel.Worker.Actors;

namespace DataParallel.Worker;

public sealed record WorkerHostOptions(
    string SeedHost, int SeedPort, NodeEndpoint Endpoint, int Threads, string? Token, string WorkerId,
    TimeSpan RejoinTimeout, int? ParentPid, bool Verbose, ClusterTls? Tls = null)
{
    /// <summary>Announce another model fingerprint or protocol version (to test that the coordinator refuses them).</summary>
    public string? AnnounceFingerprint { get; init; }
    public int? AnnounceProtocol { get; init; }
}

/// <summary>
/// Runs a worker node until its run ends. A node that loses its coordinator cannot rejoin the same
/// cluster incarnation, so each attempt is a fresh actor system; attempts stop after RejoinTimeout without
/// a coordinator.
/// </summary>
public static class WorkerHost
{
    public static async Task<int> RunAsync(WorkerHostOptions options, TextWriter output, TextWriter error, CancellationToken cancel)
    {
        TorchRuntime.Configure(options.Threads);
        var seed = ClusterConfig.Address(options.SeedHost, options.SeedPort, tls: options.Tls is not null);
        var lostSince = DateTime.UtcNow;
        var attempt = 0;
        var warned = new SeedWarning();
        while (!cancel.IsCancellationRequested)
        {
            attempt++;
            var remaining = options.RejoinTimeout - (DateTime.UtcNow - lostSince);
            if (remaining <= TimeSpan.Zero)
            {
                error.WriteLine(
                    $"error: no coordinator at {options.SeedHost}:{options.SeedPort} for {options.RejoinTimeout.TotalSeconds:F0} s; giving up");
                return ExitCodes.CoordinatorGone;
            }
            var extra = $"""
                akka.cluster.shutdown-after-unsuccessful-join-seed-nodes = {Math.Max(1, (int)remaining.TotalSeconds)} s
                {(options.Verbose ? "akka.loglevel = DEBUG" : "")}
                """;
            var config = ClusterConfig.Node(ClusterConfig.WorkerRole, options.Endpoint, [seed], ClusterConfig.RoleFile("worker.hocon"), extra);
            var exit = new TaskCompletionSource<(WorkerExit, string)>(TaskCreationOptions.RunContinuationsAsynchronously);
            var abandoned = false;
            var system = ClusterConfig.Start(config, options.Tls);
            try
            {
                var workerOptions = new WorkerOptions(options.WorkerId, seed + ClusterConfig.CoordinatorPath, options.Threads, options.Token,
                    options.Endpoint.PublicHost ?? options.Endpoint.Host)
                {
                    // The coordinator's data port is reached at the host this worker joined by.
                    Data = new DataTarget(options.SeedHost, options.Tls),
                };
                if (options.AnnounceFingerprint is { } fingerprint) workerOptions = workerOptions with { Fingerprint = fingerprint };
                if (options.AnnounceProtocol is { } protocol) workerOptions = workerOptions with { ProtocolVersion = protocol };
                system.ActorOf(WorkerActor.Props(workerOptions, exit), "worker");
                system.ActorOf(Props.Create(() => new CoordinatorWatch(exit)), "coordinator-watch");
                var lost = lostSince;
                system.ActorOf(Props.Create(() => new SeedWatch(options, warned, lost, error)), "seed-watch");
                var joined = false;
                Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() =>
                {
                    joined = true;
                    output.WriteLine($"worker {options.WorkerId} is up in the cluster of {options.SeedHost}:{options.SeedPort} "
                        + $"({options.Threads} thread{(options.Threads == 1 ? "" : "s")})");
                });
                var parentGone = ParentGone(options.ParentPid, cancel);
                var finished = await Task.WhenAny(exit.Task, system.WhenTerminated, parentGone);
                // The launching coordinator is dead: there is no leader to leave gracefully to (that only waits out
                // the cluster-exiting phase's 10 s), so the node downs itself and stops.
                abandoned = finished == parentGone && !cancel.IsCancellationRequested;
                // A handshake that failed (the coordinator presents another certificate, or refuses ours) will fail
                // again: retrying for --rejoin-timeout would only hide that. Akka stops the whole system on it, so the worker actor may
                // have ended first, reporting only that it stopped: ask the system why.
                if (ClusterTls.IsHandshakeFailure(CoordinatedShutdown.Get(system).ShutdownReason) && options.Tls!.RejectedPeers > 0)
                {
                    error.WriteLine($"error: TLS handshake with the coordinator at {options.SeedHost}:{options.SeedPort} failed; "
                        + "it must run with TLS and the same --tls-certificate as this worker");
                    return ExitCodes.Refused;
                }
                var (why, reason) = finished == exit.Task ? exit.Task.Result
                    : finished == system.WhenTerminated ? (WorkerExit.CoordinatorLost, joined ? "removed from the cluster" : "could not join")
                    // SIGTERM or Ctrl-C: the coordinated shutdown below leaves the cluster, so the coordinator sees a leave, not a failure.
                    : cancel.IsCancellationRequested ? (WorkerExit.Finished, "stopping (SIGTERM or Ctrl-C): leaving the cluster")
                    : (WorkerExit.Finished, "the launching coordinator exited");
                switch (why)
                {
                    case WorkerExit.Finished:
                        output.WriteLine($"worker {options.WorkerId}: {reason}");
                        return ExitCodes.Ok;
                    case WorkerExit.Refused:
                        error.WriteLine($"error: the coordinator refused worker {options.WorkerId}: {reason}");
                        return ExitCodes.Refused;
                    default:
                        if (joined) (lostSince, warned.Said) = (DateTime.UtcNow, false);
                        error.WriteLine($"worker {options.WorkerId}: coordinator lost ({reason}); trying to rejoin for up to "
                            + $"{Math.Max(0, (options.RejoinTimeout - (DateTime.UtcNow - lostSince)).TotalSeconds):F0} s");
                        break;
                }
            }
            finally
            {
                if (abandoned)
                {
                    // Downed by itself, the node skips waiting for a leader to see it leave.
                    var cluster = Akka.Cluster.Cluster.Get(system);
                    cluster.Down(cluster.SelfAddress);
                }
                await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
                await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancel).ContinueWith(_ => { });
        }
        return ExitCodes.Ok;
    }

    /// <summary>Completes when the process that launched this worker is gone (we were reparented).</summary>
    private static async Task ParentGone(int? parentPid, CancellationToken cancel)
    {
        if (parentPid is null || !OperatingSystem.IsLinux()) { await Task.Delay(Timeout.Infinite, cancel).ContinueWith(_ => { }); return; }
        while (!cancel.IsCancellationRequested && getppid() == parentPid)
            await Task.Delay(500, cancel).ContinueWith(_ => { });
    }

    [DllImport("libc")]
    private static extern int getppid();

    /// <summary>
    /// Ends the attempt when the coordinator's node is gone, or has stayed unreachable for a few seconds,
    /// without waiting for downing. The grace matters: a node that was frozen (SIGSTOP, a long GC) wakes up
    /// reporting everybody unreachable, and that stale report reaches every node before it is withdrawn.
    /// </summary>
    /// <summary>Whether the seed's problem was reported since the worker last lost its coordinator (said once, not per attempt).</summary>
    private sealed class SeedWarning
    {
        public bool Said { get; set; }
    }

    /// <summary>
    /// Says once, as soon as Akka.Remote fails to reach the seed, why (refused, no route, no such host) and which option
    /// to check, instead of leaving the user with Akka's association warnings until --rejoin-timeout runs out.
    /// </summary>
    private sealed class SeedWatch : ReceiveActor
    {
        public SeedWatch(WorkerHostOptions options, SeedWarning warning, DateTime lostSince, TextWriter error)
        {
            Receive<AssociationErrorEvent>(e => !warning.Said && !e.IsInbound && e.RemoteAddress.Port == options.SeedPort
                                                && string.Equals(e.RemoteAddress.Host, options.SeedHost, StringComparison.OrdinalIgnoreCase), e =>
            {
                warning.Said = true;
                var left = Math.Max(0, (options.RejoinTimeout - (DateTime.UtcNow - lostSince)).TotalSeconds);
                var why = e.Cause?.GetBaseException().Message ?? "no connection";
                error.WriteLine($"warning: cannot reach the coordinator at {options.SeedHost}:{options.SeedPort}: {why}; "
                    + $"check --seed, and that the coordinator runs there; still trying for up to {left:F0} s");
            });
            ReceiveAny(_ => { });
            Context.System.EventStream.Subscribe(Self, typeof(AssociationErrorEvent));
        }
    }

    private sealed class CoordinatorWatch : ReceiveActor, IWithTimers
    {
        private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

        public CoordinatorWatch(TaskCompletionSource<(WorkerExit, string)> exit)
        {
            var cluster = Akka.Cluster.Cluster.Get(Context.System);
            Receive<ClusterEvent.UnreachableMember>(e => e.Member.HasRole(ClusterConfig.CoordinatorRole),
                e => Timers.StartSingleTimer(e.Member.Address, new Recheck(e.Member.Address), Grace));
            Receive<ClusterEvent.ReachableMember>(e => Timers.Cancel(e.Member.Address));
            Receive<Recheck>(r =>
            {
                if (cluster.State.Unreachable.Any(m => m.Address.Equals(r.Address)))
                    exit.TrySetResult((WorkerExit.CoordinatorLost, "coordinator unreachable"));
            });
            Receive<ClusterEvent.MemberRemoved>(e => e.Member.HasRole(ClusterConfig.CoordinatorRole),
                _ => { exit.TrySetResult((WorkerExit.CoordinatorLost, "coordinator left the cluster")); });
            ReceiveAny(_ => { });
            cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.MemberRemoved));
        }

        public ITimerScheduler Timers { get; set; } = null!;

        private sealed record Recheck(Address Address);
    }
}
