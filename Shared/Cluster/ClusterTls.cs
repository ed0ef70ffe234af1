using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace DataParallel.Shared.Cluster;

/// <summary>An unusable --tls-certificate: the message names the file and what is wrong with it.</summary>
public sealed class ClusterTlsException(string message) : Exception(message);

/// <summary>
/// TLS for Akka.Remote with one certificate that every node of the cluster holds (a PKCS#12 file with its key).
/// Each node presents it, and accepts a peer only if the peer presents that same certificate: the TLS handshake
/// proves the peer holds its private key, so only holders of the file can connect, read or inject traffic.
/// Trust is this pin, not a CA chain, which is why a self-signed certificate works and host names do not matter.
/// </summary>
public sealed class ClusterTls
{
    public const string PasswordVariable = "DATAPARALLEL_TLS_PASSWORD";

    /// <summary>
    /// All that Akka.Remote 1.5.74 reads from HOCON once a <see cref="Setup"/> is given: the setup's certificate,
    /// validator and flags replace the whole ssl section (DotNettyTransportSettings.Create). So the password never
    /// enters a Config that could be logged.
    /// </summary>
    public const string Hocon = "akka.remote.dot-netty.tcp.enable-ssl = on";

    private readonly byte[] _sha256;

    private ClusterTls(X509Certificate2 certificate, string path, string? password)
    {
        Certificate = certificate;
        Path = path;
        Password = password;
        _sha256 = certificate.GetCertHash(HashAlgorithmName.SHA256);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Absolute, so a worker started from another directory finds the same file.</summary>
    public string Path { get; }

    /// <summary>Kept only to hand to local worker processes through their environment; never logged or written.</summary>
    public string? Password { get; }

    public string Sha256 => Convert.ToHexStringLower(_sha256);

    /// <summary>The password from the command line, else from the environment; null when neither is set.</summary>
    public static string? ResolvePassword(string? fromCommandLine) =>
        !string.IsNullOrEmpty(fromCommandLine) ? fromCommandLine
        : Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;

    /// <summary>Loads and checks the certificate now, so a bad file stops the program with one line, not at the first connection.</summary>
    public static ClusterTls Load(string path, string? password)
    {
        if (!File.Exists(path))
            throw new ClusterTlsException($"--tls-certificate {path}: no such file");
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password);
        }
        catch (CryptographicException e)
        {
            throw new ClusterTlsException($"--tls-certificate {path}: not a PKCS#12 (.pfx) file, "
                + $"or the password (--tls-password or {PasswordVariable}) is wrong: {e.Message}");
        }
        if (!certificate.HasPrivateKey)
            throw new ClusterTlsException($"--tls-certificate {path}: holds no private key; export the certificate together with its key");
        if (DateTime.Now < certificate.NotBefore || DateTime.Now > certificate.NotAfter)
            throw new ClusterTlsException(
                $"--tls-certificate {path}: valid only from {certificate.NotBefore:yyyy-MM-dd HH:mm} to {certificate.NotAfter:yyyy-MM-dd HH:mm}");
        return new ClusterTls(certificate, System.IO.Path.GetFullPath(path), password);
    }

    /// <summary>
    /// The pin. Chain and name errors are ignored on purpose: a self-signed certificate never chains to a CA, and
    /// nodes are addressed by IP. Validity is checked again because a run can outlive the certificate.
    /// </summary>
    public bool Accepts(X509Certificate2? peer, DateTime now) =>
        peer is not null
        && CryptographicOperations.FixedTimeEquals(peer.GetCertHash(HashAlgorithmName.SHA256), _sha256)
        && now >= peer.NotBefore && now <= peer.NotAfter;

    /// <summary>A client's side of a handshake outside Akka.Remote: present the certificate, accept only the same one.</summary>
    public SslClientAuthenticationOptions ClientOptions(string host) => new()
    {
        TargetHost = host,
        ClientCertificates = [Certificate],
        LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => Accepts(AsX509(certificate), DateTime.Now),
    };

    /// <summary>A listener's side: present the certificate, require the peer's, accept only the same one.</summary>
    public SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificate = Certificate,
        ClientCertificateRequired = true,
        RemoteCertificateValidationCallback = (_, certificate, _, _) => Accepts(AsX509(certificate), DateTime.Now),
    };

    private static X509Certificate2? AsX509(X509Certificate? certificate) =>
        certificate is null ? null : certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());

    /// <summary>
    /// The certificate and the pin, for both ends of every connection. Mutual authentication is what makes the
    /// accepting node check the connecting one as well; host names are not checked (the pin says more).
    /// </summary>
    public Setup Setup() => new DotNettySslSetup(Certificate, suppressValidation: false, requireMutualAuthentication: true,
        validateCertificateHostname: false, customValidator: Validate);

    /// <summary>
    /// How many peers this node turned away for their certificate. A failed handshake without one is no certificate
    /// problem: a proxy, relay or published container port in front of a coordinator that is not listening yet
    /// accepts the connection and then closes it.
    /// </summary>
    public int RejectedPeers => _rejectedPeers;

    private int _rejectedPeers;

    private bool Validate(X509Certificate2? peer, X509Chain? chain, string remotePeer, SslPolicyErrors errors, ILoggingAdapter log)
    {
        if (Accepts(peer, DateTime.Now)) return true;
        Interlocked.Increment(ref _rejectedPeers);
        var presented = peer is null
            ? "no certificate"
            : $"{peer.Subject} (sha256 {Convert.ToHexStringLower(peer.GetCertHash(HashAlgorithmName.SHA256))}, valid to {peer.NotAfter:yyyy-MM-dd})";
        log.Error("TLS: rejected {0}: it presented {1}; this node accepts only its own certificate (sha256 {2}) while it is valid",
            remotePeer, presented, Sha256);
        return false;
    }

    /// <summary>
    /// Akka.Remote 1.5.74 shuts a whole actor system down when one of its outbound TLS handshakes fails
    /// (TcpHandlers.UserEventTriggered, with the internal TlsHandshakeFailureReason): this tells that apart.
    /// </summary>
    public static bool IsHandshakeFailure(CoordinatedShutdown.Reason? reason) =>
        reason?.GetType().FullName == "Akka.Remote.Transport.DotNetty.TlsHandshakeFailureReason";
}
