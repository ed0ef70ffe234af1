using System.Security.Cryptography.X509Certificates;
using DataParallel.Shared.Cluster;
using DataParallel.Tests.Support;

namespace DataParallel.Tests.Unit;

public sealed class ClusterTlsTests
{
    private readonly string _dir = Repository.NewTempDirectory("tls-unit");

    [Fact]
    public void The_cluster_certificate_is_accepted_and_one_with_the_same_name_but_another_key_is_not()
    {
        var tls = ClusterTls.Load(TestCertificates.CreatePfx(_dir, "cluster"), TestCertificates.Password);
        var impostor = ClusterTls.Load(TestCertificates.CreatePfx(_dir, "impostor"), TestCertificates.Password);
        var publicPart = X509CertificateLoader.LoadCertificate(tls.Certificate.RawData);

        Assert.Equal(tls.Certificate.Subject, impostor.Certificate.Subject);
        Assert.True(tls.Accepts(publicPart, DateTime.Now));
        Assert.False(tls.Accepts(impostor.Certificate, DateTime.Now));
        Assert.False(tls.Accepts(null, DateTime.Now));
        Assert.False(tls.Accepts(publicPart, tls.Certificate.NotAfter.AddMinutes(1)));
    }

    [Fact]
    public void The_path_is_made_absolute_and_the_fingerprint_is_sha256()
    {
        var path = TestCertificates.CreatePfx(_dir, "cluster");
        var tls = ClusterTls.Load(Path.GetRelativePath(Environment.CurrentDirectory, path), TestCertificates.Password);
        Assert.Equal(path, tls.Path);
        Assert.Matches("^[0-9a-f]{64}$", tls.Sha256);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var path = Path.Combine(_dir, "absent.pfx");
        var e = Assert.Throws<ClusterTlsException>(() => ClusterTls.Load(path, "x"));
        Assert.Equal($"--tls-certificate {path}: no such file", e.Message);
    }

    [Fact]
    public void A_wrong_password_is_named_with_where_the_password_comes_from()
    {
        var path = TestCertificates.CreatePfx(_dir, "cluster");
        var e = Assert.Throws<ClusterTlsException>(() => ClusterTls.Load(path, "wrong"));
        Assert.StartsWith($"--tls-certificate {path}: not a PKCS#12 (.pfx) file, "
            + $"or the password (--tls-password or {ClusterTls.PasswordVariable}) is wrong", e.Message);
    }

    [Fact]
    public void A_file_without_the_private_key_is_refused()
    {
        var path = TestCertificates.CreatePfx(_dir, "public", withPrivateKey: false);
        var e = Assert.Throws<ClusterTlsException>(() => ClusterTls.Load(path, TestCertificates.Password));
        Assert.Equal($"--tls-certificate {path}: holds no private key; export the certificate together with its key", e.Message);
    }

    [Fact]
    public void An_expired_certificate_is_refused_at_start()
    {
        var path = TestCertificates.CreatePfx(_dir, "expired", notBefore: DateTimeOffset.Now.AddDays(-10), notAfter: DateTimeOffset.Now.AddDays(-1));
        var e = Assert.Throws<ClusterTlsException>(() => ClusterTls.Load(path, TestCertificates.Password));
        Assert.StartsWith($"--tls-certificate {path}: valid only from ", e.Message);
    }
}
