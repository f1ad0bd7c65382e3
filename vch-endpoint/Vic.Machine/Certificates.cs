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
    /// <summary>The VCH's certificates, unless it serves plain HTTP (<c>--no-tls</c>): then only its folder.</summary>
    public static void GenerateUnlessPlain(VchPlan plan)
    {
        if (plan.NoTls)
        {
            Directory.CreateDirectory(plan.CertPath);
            return;
        }

        Generate(plan.CertPath, plan.Name, plan.TlsCname, clientCertificate: !plan.ClientCaGiven);
    }

    /// <param name="clientCertificate">Also a client certificate: not when clients bring their own (<c>--tls-ca</c>).</param>
    public static void Generate(string directory, string vchName, string cname, bool clientCertificate = true)
    {
        Directory.CreateDirectory(directory);
        var now = DateTimeOffset.UtcNow.AddMinutes(-5);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={vchName} CA, O=vSphere Integrated Containers", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now, now.AddYears(5));

        Issue(directory, "server", ca, caKey, cname, now, server: true);
        if (clientCertificate)
        {
            Issue(directory, "client", ca, caKey, "client", now, server: false);
        }

        File.WriteAllText(Path.Combine(directory, "ca.pem"), ca.ExportCertificatePem() + "\n");

        // Kept, as VIC kept it, so more users' certificates can be issued later; only the owner reads it.
        var caKeyFile = Path.Combine(directory, "ca-key.pem");
        File.WriteAllText(caKeyFile, "");
        File.SetUnixFileMode(caKeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(caKeyFile, caKey.ExportPkcs8PrivateKeyPem() + "\n");
    }

    /// <summary>
    /// A client certificate for one user (its common name is the user the VCH's authorization policy
    /// names), signed by the VCH's CA, in <c>users/USER/</c> beside the CA: ca.pem, cert.pem and
    /// key.pem, a DOCKER_CERT_PATH of its own. Returns that folder.
    /// </summary>
    public static string IssueUser(string directory, string user)
    {
        if (user.Length is 0 or > 64 || !user.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@') || user.StartsWith('.'))
        {
            throw new MachineException($"--cert-user '{user}': 1-64 letters, digits, '-', '_', '.', '@'");
        }

        if (user is "local" or "anonymous")
        {
            throw new MachineException($"--cert-user '{user}': the VCH names connections without a certificate so; choose another name");
        }

        var caFile = Path.Combine(directory, "ca.pem");
        var caKeyFile = Path.Combine(directory, "ca-key.pem");
        if (!File.Exists(caFile) || !File.Exists(caKeyFile))
        {
            throw new MachineException($"{directory} holds no VCH CA (ca.pem and ca-key.pem): issue certificates where create made them (--tls-cert-path)");
        }

        if (File.Exists(Path.Combine(directory, "client-ca.pem")))
        {
            throw new MachineException($"this VCH accepts client certificates of the CAs given to --tls-ca ({Path.Combine(directory, "client-ca.pem")}): issue {user}'s certificate with one of those");
        }

        var folder = Path.Combine(directory, "users", user);
        if (Directory.Exists(folder))
        {
            throw new MachineException($"{folder} exists: user {user} already has a certificate");
        }

        Directory.CreateDirectory(folder);
        using var ca = X509Certificate2.CreateFromPemFile(caFile, caKeyFile);
        using var caKey = ca.GetECDsaPrivateKey()!;
        Issue(folder, "client", ca, caKey, user, DateTimeOffset.UtcNow.AddMinutes(-5), server: false);
        File.Copy(caFile, Path.Combine(folder, "ca.pem"));
        return folder;
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
