using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Vic.Admin;
using Vic.Admin.Access;
using Vic.Endpoint.Configuration;

namespace Vic.Endpoint.Hosting;

/// <summary>
/// Makes vicadmin's settings from the endpoint's: its certificate, who may log in, and the settings it
/// shows (the only place that decides what of the configuration is safe to show: no password, no key).
/// </summary>
public static class VicadminComposition
{
    public static AdminConfig ConfigOf(EndpointConfig config, VicadminSettings vicadmin, ILoggerFactory loggers)
    {
        var checks = new List<IAdminPasswordCheck>();
        if (vicadmin.PasswordFile is { } file)
        {
            checks.Add(new PasswordFileCheck(file));
        }

        if (config.Vsphere is { } vsphere)
        {
            checks.Add(new VsphereLoginCheck(vsphere.Session, loggers.CreateLogger<VsphereLoginCheck>()));
        }

        var authority = config.TlsFiles?.CertificateAuthority is { } ca ? VchEndpointHost.AuthoritiesIn(ca) : null;
        return new AdminConfig(
            vicadmin.Listen,
            CertificateOf(config, vicadmin),
            authority is null ? null : certificate => VchEndpointHost.IsSignedBy(certificate, authority) && MayAdminister(config.Authorization, certificate),
            checks,
            SettingsOf(config, vicadmin),
            typeof(VicadminComposition).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
    }

    /// <summary>
    /// Under an authorization policy, a client certificate opens vicadmin only to a user it lets
    /// manage the VCH: the page shows every container's output and the endpoint's log, more than
    /// <c>read</c> gives on the Docker API.
    /// </summary>
    private static bool MayAdminister(Vic.Api.Authorization.AuthorizationPolicy? policy, X509Certificate2 certificate) =>
        policy is null || policy.GrantOf(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false)).Rights.Contains(Vic.Api.Authorization.AccessRight.Manage);

    /// <summary>The VCH's settings as an admin reads them; secrets are never put in.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> SettingsOf(EndpointConfig config, VicadminSettings vicadmin)
    {
        var vch = config.Vch;
        var settings = new List<KeyValuePair<string, string>>();
        void Add(string key, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                settings.Add(new(key, value));
            }
        }

        Add("Docker API", string.Join(", ", config.Listen));
        Add("Docker API security", config.Tls switch
        {
            TlsMode.TlsVerify => "TLS, client certificates required",
            TlsMode.Tls => "TLS, no client certificates",
            _ => "plain HTTP (loopback and unix socket only)",
        });
        Add("vicadmin", $"https://{vicadmin.Listen}/");
        Add("Data directory", vch.DataDirectory);
        Add("Backend", config.Qemu is not null ? "qemu (local)" : config.Vsphere is not null ? "vsphere" : "none (API only)");
        Add("Registry mirrors", string.Join(", ", vch.Registries.Mirrors.Select(m => new Uri(m).GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped))));
        Add("Insecure registries", string.Join(", ", vch.Registries.InsecureRegistries));
        Add("Volume stores", string.Join(", ", vch.VolumeStores.Select(s => s.Nfs is { } nfs ? $"{s.Label} (nfs://{nfs.Host}{nfs.Path})" : $"{s.Label} (local)")));
        if (config.Qemu is { } qemu)
        {
            Add("ContainerVM provisioning", qemu.InstantClone ? qemu.CloneMemory == Vic.Backends.Qemu.CloneMemory.CopyOnWrite ? "instant clone, copy-on-write memory" : "instant clone, full copy of memory" : "cold boot");
            Add("ContainerVM kernel file", qemu.Kernel);
        }

        if (config.Vsphere is { } vsphere)
        {
            // The vSphere password is never shown: only where and as whom the VCH logs in.
            Add("vSphere target", vsphere.Session.Sdk.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped));
            Add("vSphere user", vsphere.Session.UserName);
            Add("Datacenter", vsphere.Datacenter);
            Add("Compute resource", vsphere.ComputeResource);
            Add("Image store", vsphere.Datastore);
            Add("Bridge network", vsphere.BridgeNetwork);
            Add("Public network", vsphere.PublicNetwork);
            Add("Channel address", vsphere.ChannelAddress.ToString());
            Add("Container networks", string.Join(", ", vch.ContainerNetworks.Select(n => $"{n.Name} ({n.PortGroup}, {n.Subnet})")));
        }

        return settings;
    }

    /// <summary>
    /// The VCH's own server certificate when it has one; else one made for vicadmin and kept in the
    /// data directory, so a browser's exception for it outlives a restart.
    /// </summary>
    private static X509Certificate2 CertificateOf(EndpointConfig config, VicadminSettings vicadmin)
    {
        if (config.TlsFiles is { } files)
        {
            return X509Certificate2.CreateFromPemFile(files.Certificate, files.Key);
        }

        var folder = Path.Combine(config.Vch.DataDirectory, "vicadmin");
        var certificate = Path.Combine(folder, "server-cert.pem");
        var key = Path.Combine(folder, "server-key.pem");
        if (File.Exists(certificate) && File.Exists(key))
        {
            var kept = X509Certificate2.CreateFromPemFile(certificate, key);
            if (kept.NotAfter > DateTime.Now.AddDays(7))
            {
                return kept;
            }
        }

        Directory.CreateDirectory(folder);
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={config.Vch.Name} vicadmin", ecdsa, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName(Dns.GetHostName());
        names.AddIpAddress(IPAddress.Loopback);
        if (!vicadmin.Listen.Address.Equals(IPAddress.Any) && !vicadmin.Listen.Address.Equals(IPAddress.Loopback))
        {
            names.AddIpAddress(vicadmin.Listen.Address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(2));
        File.WriteAllText(key, "");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(key, made.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certificate, made.ExportCertificatePem());
        return X509Certificate2.CreateFromPemFile(certificate, key);
    }
}

/// <summary>vicadmin on vSphere: a login is checked by logging in to the VCH's vCenter or ESXi as that user.</summary>
internal sealed class VsphereLoginCheck(Vic.Vim25.VimSessionConfig target, ILogger<VsphereLoginCheck> logger) : IAdminPasswordCheck
{
    public string Source => $"a vSphere account of {target.Sdk.Host}";

    public async Task<bool> CheckAsync(string user, string password, CancellationToken cancellationToken)
    {
        if (user.Length == 0 || password.Length == 0)
        {
            return false;
        }

        try
        {
            await using var session = await Vic.Vim25.VimSession.ConnectAsync(target with { UserName = user, Password = password }, logger, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is Vic.Vim25.VimFaultException or Vic.Vim25.VimProtocolException or HttpRequestException or TaskCanceledException)
        {
            // A vSphere that does not answer logs nobody in: the form says so, not a 500.
            return false;
        }
    }
}
