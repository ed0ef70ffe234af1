using DataParallel.Shared.Cluster;
using System.Security.Cryptography.X509Certificates;

namespace DataParallel.Tests.Support;

/// <summary>Self-signed certificates made by the test itself, written as password-protected .pfx files like a user's.</summary>
public static class TestCertificates
{
    public const string Password = "pfx-test-password";
    public const string Subject = ClusterCertificate.Subject;

    /// <summary>The kind of certificate `Coordinator cert` makes, with the subject, dates or key the test chooses.</summary>
    public static string CreatePfx(string directory, string name, string subject = Subject,
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool withPrivateKey = true)
    {
        using var certificate = ClusterCertificate.SelfSigned(
            subject, notBefore ?? DateTimeOffset.Now.AddDays(-1), notAfter ?? DateTimeOffset.Now.AddDays(30));
        using var exported = withPrivateKey ? certificate : X509CertificateLoader.LoadCertificate(certificate.RawData);
        var path = Path.Combine(directory, name + ".pfx");
        File.WriteAllBytes(path, exported.Export(X509ContentType.Pfx, Password));
        return path;
    }
}
