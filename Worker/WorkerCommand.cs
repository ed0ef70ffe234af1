using System.CommandLine;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Native;
using DataParallel.Shared.Security;
using DataParallel.Shared.Settings;

namespace DataParallel.Worker;

/// <summary>The worker's command line.</summary>
public static class WorkerCommand
{
    public static RootCommand Create()
    {
        var seed = new Option<string>("--seed") { Description = "The coordinator's address, HOST:PORT", Required = true };
        seed.Validators.Add(r =>
        {
            // The host goes into HOCON's seed-nodes: a name or an IP literal only.
            if (!Endpoints.TryParse(r.GetValueOrDefault<string>() ?? "", out var seedHost, out _) || !OptionRules.IsHost(seedHost))
                r.AddError($"--seed: '{r.GetValueOrDefault<string>()}' is not HOST:PORT");
        });
        var host = new Option<string>("--host") { Description = "Address to bind", DefaultValueFactory = _ => "127.0.0.1" }.Host();
        var publicHost = new Option<string?>("--public-host")
        {
            Description = "Address other nodes use to reach this one (behind NAT or in a container)",
        }.Host();
        var port = new Option<int>("--port") { Description = "Port to bind (0: any free port)", DefaultValueFactory = _ => 0 };
        port.Validators.Add(r => Endpoints.ValidatePort(r, "--port", allowZero: true));
        var threads = new Option<int>("--threads")
        {
            Description = "libtorch intra-op threads (results are bit-identical only at equal thread counts)",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        }.Within(1, OptionRules.MaxThreads);
        var token = new Option<string?>("--token")
        {
            Description = $"Join token (or set {JoinToken.EnvironmentVariable}); required by a coordinator that binds beyond loopback",
        };
        var id = new Option<string?>("--id") { Description = "Worker id: letters, digits, '-', '_' and '.' (default: host-pid)" };
        id.Validators.Add(r =>
        {
            // Ids go into CSV files and log lines: keep them to characters that need no quoting anywhere.
            if (r.GetValueOrDefault<string?>() is { } value && !WorkerIds.IsValid(value))
                r.AddError($"--id: '{value}' must be 1 to 64 letters, digits, '-', '_' or '.'");
        });
        var rejoin = new Option<double>("--rejoin-timeout")
        {
            Description = "Seconds to keep trying to reach a missing coordinator before giving up",
            DefaultValueFactory = _ => 60,
        }.Seconds();
        var cpus = new Option<string?>("--cpus")
        {
            Description = "Pin this worker to these CPUs (online ones), e.g. 0 or 2-3 (the coordinator pins the workers it starts)",
        }.CpuList();
        var parentPid = new Option<int?>("--parent-pid")
        {
            Description = "Exit when this process (the launching coordinator) is gone",
            Hidden = true,
        };
        var verbose = new Option<bool>("--verbose") { Description = "Akka debug logging" };
        // Fault injection for the refusal tests: announce a model or protocol this build does not have.
        var announceFingerprint = new Option<string?>("--announce-fingerprint") { Hidden = true };
        var announceProtocol = new Option<int?>("--announce-protocol") { Hidden = true };
        var tls = new TlsOptions();

        var root = new RootCommand(
            $"Data-parallel training worker: joins a coordinator's Akka.Cluster and computes gradients with TorchSharp. {ExitCodes.WorkerHelp}")
        {
            seed, host, publicHost, port, threads, cpus, token, id, rejoin, parentPid, verbose, announceFingerprint, announceProtocol,
        };
        tls.AddTo(root);
        root.SetAction(async (parse, cancel) =>
        {
            if (!tls.TryLoad(parse, Console.Error, out var clusterTls)) return ExitCodes.Usage;
            Endpoints.TryParse(parse.GetValue(seed)!, out var seedHost, out var seedPort);
            var hasToken = JoinToken.Resolve(parse.GetValue(token)) is not null;
            if ((BindingRule.Check("--host", parse.GetValue(host)!, clusterTls is not null, hasToken)
                 ?? BindingRule.Check("--seed", seedHost, clusterTls is not null, hasToken)) is { } refused)
            {
                Console.Error.WriteLine($"error: {refused}");
                return ExitCodes.Usage;
            }
            if (parse.GetValue(cpus) is { } cpuList && CpuAffinity.TryParse(cpuList, out var pinned)) CpuAffinity.PinProcess(pinned);
            var options = new WorkerHostOptions(
                SeedHost: seedHost,
                SeedPort: seedPort,
                Endpoint: new NodeEndpoint(parse.GetValue(host)!, parse.GetValue(port), parse.GetValue(publicHost)),
                Threads: parse.GetValue(threads),
                Token: JoinToken.Resolve(parse.GetValue(token)),
                WorkerId: parse.GetValue(id) ?? $"{Environment.MachineName}-{Environment.ProcessId}",
                RejoinTimeout: TimeSpan.FromSeconds(parse.GetValue(rejoin)),
                ParentPid: parse.GetValue(parentPid),
                Verbose: parse.GetValue(verbose),
                Tls: clusterTls)
            {
                AnnounceFingerprint = parse.GetValue(announceFingerprint),
                AnnounceProtocol = parse.GetValue(announceProtocol),
            };
            return await WorkerHost.RunAsync(options, Console.Out, Console.Error, cancel);
        });
        return root;
    }
}
