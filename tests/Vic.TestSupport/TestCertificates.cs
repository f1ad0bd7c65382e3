using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Vic.TestSupport;

/// <summary>PEM files of a CA, a server certificate for 127.0.0.1 and client certificates, as docker's TLS guide makes them.</summary>
public sealed class TestCertificates
{
    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaCert => Path.Combine(Directory, "ca.pem");

    public string ServerCert => Path.Combine(Directory, "server-cert.pem");

    public string ServerKey => Path.Combine(Directory, "server-key.pem");

    /// <summary>A client certificate signed by <see cref="CaCert"/>.</summary>
    public string ClientCert => Path.Combine(Directory, "cert.pem");

    public string ClientKey => Path.Combine(Directory, "key.pem");

    /// <summary>A client certificate signed by a different CA: it must be refused.</summary>
    public string RogueClientCert => Path.Combine(Directory, "rogue-cert.pem");

    public string RogueClientKey => Path.Combine(Directory, "rogue-key.pem");

    /// <param name="serverAddresses">More addresses the server certificate is valid for, beside 127.0.0.1 and localhost.</param>
    public static TestCertificates Create(string directory, params IPAddress[] serverAddresses) => Create(directory, serverAddresses, []);

    /// <summary>
    /// Also a client certificate per user (its common name the user's name), each in a folder of its
    /// own with the CA beside it: <see cref="UserCertPath"/> is a DOCKER_CERT_PATH.
    /// </summary>
    public static TestCertificates CreateWithUsers(string directory, params string[] users) => Create(directory, [], users);

    public string UserCertPath(string user) => Path.Combine(Directory, "users", user);

    private static TestCertificates Create(string directory, IPAddress[] serverAddresses, string[] users)
    {
        System.IO.Directory.CreateDirectory(directory);
        var certificates = new TestCertificates(directory);
        using var ca = MakeAuthority("VCH test CA");
        using var rogueCa = MakeAuthority("Someone else's CA");
        File.WriteAllText(certificates.CaCert, ca.ExportCertificatePem());

        var serverRequest = LeafRequest("127.0.0.1", out var serverKey);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        foreach (var address in serverAddresses)
        {
            san.AddIpAddress(address);
        }

        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        Write(Sign(serverRequest, ca), serverKey, certificates.ServerCert, certificates.ServerKey);

        var clientRequest = LeafRequest("client", out var clientKey);
        clientRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        Write(Sign(clientRequest, ca), clientKey, certificates.ClientCert, certificates.ClientKey);

        var rogueRequest = LeafRequest("client", out var rogueKey);
        rogueRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        Write(Sign(rogueRequest, rogueCa), rogueKey, certificates.RogueClientCert, certificates.RogueClientKey);
        foreach (var user in users)
        {
            var folder = System.IO.Directory.CreateDirectory(certificates.UserCertPath(user)).FullName;
            var userRequest = LeafRequest(user, out var userKey);
            userRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
            Write(Sign(userRequest, ca), userKey, Path.Combine(folder, "cert.pem"), Path.Combine(folder, "key.pem"));
            File.Copy(certificates.CaCert, Path.Combine(folder, "ca.pem"));
        }

        return certificates;
    }

    private static X509Certificate2 MakeAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static CertificateRequest LeafRequest(string commonName, out ECDsa key)
    {
        key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        return request;
    }

    private static X509Certificate2 Sign(CertificateRequest request, X509Certificate2 authority)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        // Within the authority's own validity: computed from the clock a moment later, the end could pass it.
        return request.Create(authority, DateTimeOffset.UtcNow.AddDays(-1), authority.NotAfter.AddSeconds(-1), serial);
    }

    private static void Write(X509Certificate2 certificate, ECDsa key, string certificatePath, string keyPath)
    {
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        key.Dispose();
        certificate.Dispose();
    }
}
