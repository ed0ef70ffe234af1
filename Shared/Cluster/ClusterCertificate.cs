using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataParallel.Shared.Cluster;

/// <summary>
/// Makes the certificate a cluster shares: self-signed RSA 2048 for both TLS roles (every node is server and client),
/// written as a PKCS#12 file readable by its owner only. Trust comes from pinning it (<see cref="ClusterTls"/>), so
/// its subject and CA chain do not matter.
/// </summary>
public static class ClusterCertificate
{
    public const string Subject = "CN=dataparallel-cluster";
    /// <summary>The file name of a run's own certificate in its run directory.</summary>
    public const string RunFileName = "cluster.pfx";

    public static ClusterTls Create(string path, string? password, TimeSpan validity)
    {
        using var certificate = SelfSigned(Subject, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow + validity);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        // Owner-only from the first byte: the file holds the private key that admits a node to the cluster.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            Directory.CreateDirectory(directory);
            using (var stream = new FileStream(temporary, options)) stream.Write(certificate.Export(X509ContentType.Pfx, password));
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (IO.FileIoException.IsIo(e))
        {
            try { File.Delete(temporary); } catch (IOException) { }
            throw IO.FileIoException.Writing(path, e);
        }
        return ClusterTls.Load(path, password);
    }

    /// <summary>An RSA 2048 certificate with its key, for both TLS roles (a node is server and client).</summary>
    public static X509Certificate2 SelfSigned(string subject, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(
            new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1", "serverAuth"), new Oid("1.3.6.1.5.5.7.3.2", "clientAuth")], false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>
    /// A run's own certificate in its run directory, for a run given none: made at its first start, reused when it is
    /// resumed (so waiting workers get back in), removed when it finishes. Only processes that can read the run
    /// directory can join: on one machine, the same user (who could stop the run anyway) and root.
    /// </summary>
    public static ClusterTls ForRun(string runDirectory)
    {
        var path = Path.Combine(runDirectory, RunFileName);
        if (File.Exists(path))
        {
            try
            {
                var existing = ClusterTls.Load(path, null);
                if (existing.Certificate.NotAfter > DateTime.Now.AddDays(1)) return existing;
            }
            catch (ClusterTlsException) { } // damaged or expired: make a new one
        }
        return Create(path, null, TimeSpan.FromDays(30));
    }
}

/// <summary>Who may bind or join beyond loopback: the rule both programs apply to their addresses.</summary>
public static class BindingRule
{
    /// <summary>Null when <paramref name="host"/> may be used; else the one line that says why not and what to add.</summary>
    public static string? Check(string option, string host, bool tls, bool token) =>
        Endpoints.IsLoopback(host) || (tls && token)
            ? null
            : $"{option} {host}: beyond loopback, TLS and a join token are both required: --tls-certificate FILE (make one with "
              + $"`Coordinator cert FILE`) and --token (or {Security.JoinToken.EnvironmentVariable})";
}
