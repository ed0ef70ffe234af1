using DataParallel.Shared.Cluster;

namespace DataParallel.Coordinator.Launch;

/// <summary>Where the workers come from.</summary>
public enum WorkerMode
{
    /// <summary>The coordinator starts Worker processes on this machine (the default).</summary>
    Local,
    /// <summary>Worker actors inside the coordinator's own actor system.</summary>
    InProcess,
    /// <summary>The coordinator waits for workers started elsewhere with `Worker --seed HOST:PORT`.</summary>
    External,
}

/// <summary>
/// How a run is deployed and how the coordinator treats its workers: nothing here changes what it computes, except
/// ThreadsPerWorker (bit-wise). The command line fills it; the coordinator actor and its scheduler read it as it is.
/// </summary>
public sealed record LaunchSettings
{
    public int Workers { get; init; } = 2;
    public WorkerMode Mode { get; init; } = WorkerMode.Local;
    public int ThreadsPerWorker { get; init; } = 1;
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }
    public string? PublicHost { get; init; }
    /// <summary>--data-port; null: Port + 1 when Port is set, else any free port.</summary>
    public int? DataPort { get; init; }
    /// <summary>Whether workers in other processes get a data channel for the step's tensors (--no-data-channel: false).</summary>
    public bool DataChannel { get; init; } = true;
    /// <summary>Never logged, never written: config.json records only whether one is set.</summary>
    public string? Token { get; init; }
    /// <summary>TLS for Akka.Remote; config.json records the certificate's path and fingerprint, never its password.</summary>
    public ClusterTls? Tls { get; init; }
    /// <summary>Tls is the run's own certificate (made in its run directory because none was given), removed at its end.</summary>
    public bool RunCertificate { get; init; }
    /// <summary>--no-tls: plain TCP on loopback, for measuring what TLS costs; any local process can then reach the run.</summary>
    public bool NoTls { get; init; }
    public string Out { get; init; } = "";
    public int LogEvery { get; init; }
    public bool Verbose { get; init; }
    /// <summary>A worker that has held a unit this long without any reply is declared dead, whatever the cluster says.</summary>
    public TimeSpan WorkerTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>A unit in flight longer than max(this, StragglerFactor x its worker's expected time) also goes to an idle worker.</summary>
    public TimeSpan StragglerMinimum { get; init; } = TimeSpan.FromSeconds(2);
    public double StragglerFactor { get; init; } = 4;
    /// <summary>Checkpoint every this many steps as well as at every epoch end (0: epoch ends only).</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>How often deadlines are checked.</summary>
    public TimeSpan Tick { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>
    /// How long a member must stay unreachable before its work moves and it is downed: a node waking from a freeze
    /// reports everybody unreachable until its first heartbeats arrive.
    /// </summary>
    public TimeSpan UnreachableGrace { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan WaitingNoticeEvery { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Test-only (hidden option --hold-until-joins N@EPOCH:STEP).</summary>
    public JoinGate? HoldUntilJoins { get; init; }
}

/// <summary>`train --resume DIR`: continue the run in DIR; its settings come from its checkpoint, only the data may move.</summary>
public sealed record ResumeRequest(string Directory, string? Data);
