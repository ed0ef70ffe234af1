using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DataParallel.Tests.Support;

/// <summary>Self-signed certificates made by the test itself, written as password-protected .pfx files like a user's.</summary>
public static class TestCertificates
{
    public const string Password = "pfx-test-password";
    public const string Subject = "CN=dataparallel-cluster";

    /// <summary>An RSA 2048 certificate for both TLS roles (a node is server and client), as docs/tls.md makes one.</summary>
    public static string CreatePfx(string directory, string name, string subject = Subject,
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool withPrivateKey = true)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1", "serverAuth"), new Oid("1.3.6.1.5.5.7.3.2", "clientAuth")], false));
        using var certificate = request.CreateSelfSigned(notBefore ?? DateTimeOffset.Now.AddDays(-1), notAfter ?? DateTimeOffset.Now.AddDays(30));
        using var exported = withPrivateKey ? certificate : X509CertificateLoader.LoadCertificate(certificate.RawData);
        var path = Path.Combine(directory, name + ".pfx");
        File.WriteAllBytes(path, exported.Export(X509ContentType.Pfx, Password));
        return path;
    }
}
