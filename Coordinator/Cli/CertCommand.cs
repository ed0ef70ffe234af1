using System.CommandLine;
using DataParallel.Shared.Cluster;
using DataParallel.Shared.Settings;

namespace DataParallel.Coordinator.Cli;

/// <summary>`cert FILE`: the certificate a multi-machine cluster shares, and how to hand it out.</summary>
public static class CertCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "Where to write the PKCS#12 (.pfx) file (owner-only)" };
        var days = new Option<int>("--days") { Description = "Days the certificate is valid", DefaultValueFactory = _ => 365 };
        days.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 3650) r.AddError("--days must be between 1 and 3650"); });
        var password = new Option<string?>("--password")
        {
            Description = $"Protect the file with this password (or set {ClusterTls.PasswordVariable})",
        };
        var force = new Option<bool>("--force") { Description = "Overwrite an existing file" };
        var command = new Command("cert", "Create the TLS certificate every node of a cluster shares (needed beyond loopback)")
        {
            file, days, password, force,
        };
        command.SetAction(parse =>
        {
            var path = Path.GetFullPath(parse.GetValue(file)!);
            if (File.Exists(path) && !parse.GetValue(force))
            {
                Console.Error.WriteLine($"error: {path}: already exists; --force replaces it (every node then needs the new file)");
                return ExitCodes.Usage;
            }
            var secret = ClusterTls.ResolvePassword(parse.GetValue(password));
            ClusterTls tls;
            try
            {
                tls = ClusterCertificate.Create(path, secret, TimeSpan.FromDays(parse.GetValue(days)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {path}: cannot write: {e.Message}");
                return ExitCodes.Failed;
            }
            var passwordSet = secret is null ? "" : $" and {ClusterTls.PasswordVariable} set";
            Console.WriteLine($"""
                wrote {path}
                  certificate sha256 {tls.Sha256}, valid to {tls.Certificate.NotAfter:yyyy-MM-dd}
                It holds the cluster's private key: whoever has it (and the join token) can join a run.
                Copy it to every machine of the cluster over a channel you trust (e.g. scp), readable by the training user only,
                and start the coordinator and every worker with --tls-certificate FILE{passwordSet}, e.g.
                  Coordinator train --external --host 0.0.0.0 --public-host <this machine> --tls-certificate {path} --token <secret>
                  Worker --seed <coordinator>:4053 --host 0.0.0.0 --public-host <that machine> --tls-certificate {path} --token <secret>
                """);
            return ExitCodes.Ok;
        });
        return command;
    }
}
