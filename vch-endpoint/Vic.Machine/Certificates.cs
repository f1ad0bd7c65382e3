using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Vic.Machine;

/// <summary>
/// The VCH's certificates, as docker expects them in DOCKER_CERT_PATH: a CA of its own
/// (<c>ca.pem</c>), the endpoint's server certificate for the TLS name (<c>server-cert.pem</c>,
/// <c>server-key.pem</c>) and a client certificate (<c>cert.pem</c>, <c>key.pem</c>).
/// </summary>
public static class Certificates
{
    public static void Generate(string directory, string vchName, string cname)
    {
        Directory.CreateDirectory(directory);
        var now = DateTimeOffset.UtcNow.AddMinutes(-5);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={vchName} CA, O=vSphere Integrated Containers", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now, now.AddYears(5));

        Issue(directory, "server", ca, caKey, cname, now, server: true);
        Issue(directory, "client", ca, caKey, "client", now, server: false);
        File.WriteAllText(Path.Combine(directory, "ca.pem"), ca.ExportCertificatePem() + "\n");
    }

    private static void Issue(string directory, string kind, X509Certificate2 ca, ECDsa caKey, string subject, DateTimeOffset now, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            if (IPAddress.TryParse(subject, out var address))
            {
                names.AddIpAddress(address);
            }
            else
            {
                names.AddDnsName(subject);
            }

            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var certificate = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now, now.AddYears(2), serial);
        var (certFile, keyFile) = server ? ("server-cert.pem", "server-key.pem") : ("cert.pem", "key.pem");
        File.WriteAllText(Path.Combine(directory, certFile), certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(directory, keyFile), key.ExportPkcs8PrivateKeyPem() + "\n");
        File.SetUnixFileMode(Path.Combine(directory, keyFile), UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
