using System.CommandLine;

namespace DataParallel.Shared.Cluster;

/// <summary>--tls-certificate and --tls-password, the same on both programs.</summary>
public sealed class TlsOptions
{
    public Option<string?> Certificate { get; } = new("--tls-certificate")
    {
        Description = "PKCS#12 (.pfx) file with the certificate and private key that every node of the cluster shares: turns on TLS for Akka.Remote",
    };

    public Option<string?> Password { get; } = new("--tls-password")
    {
        Description = $"Password of the --tls-certificate file (or set {ClusterTls.PasswordVariable}); "
            + "visible to other users in the process list, the variable is not",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Certificate);
        command.Options.Add(Password);
        command.Validators.Add(r =>
        {
            if (r.GetValue(Password) is not null && r.GetValue(Certificate) is null)
                r.AddError("--tls-password needs --tls-certificate");
        });
    }

    /// <summary>
    /// The loaded certificate, or null without --tls-certificate. Loaded here, before anything starts, so a missing
    /// file or a wrong password is one line on <paramref name="error"/> and false, never a stack trace at first connection.
    /// </summary>
    public bool TryLoad(ParseResult parse, TextWriter error, out ClusterTls? tls)
    {
        tls = null;
        if (parse.GetValue(Certificate) is not { } path) return true;
        try
        {
            tls = ClusterTls.Load(path, ClusterTls.ResolvePassword(parse.GetValue(Password)));
            return true;
        }
        catch (ClusterTlsException e)
        {
            error.WriteLine($"error: {e.Message}");
            return false;
        }
    }
}
