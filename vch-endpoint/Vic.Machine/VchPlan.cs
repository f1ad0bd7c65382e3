using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Vic.Vim25;

namespace Vic.Machine;

/// <summary>Where a VCH goes in vSphere.</summary>
/// <param name="ComputeResource">As given (any of VIC's forms); null only for ls, which looks across the datacenter.</param>
public sealed record VspherePlacement(VimSessionConfig Session, string? Datacenter, string? ComputeResource, string ImageStore, IPAddress ChannelAddress);

/// <summary>
/// A VCH's validated settings: every value checked and defaulted, nothing changed anywhere yet.
/// <see cref="Vsphere"/> is null for a local (QEMU) VCH.
/// </summary>
public sealed partial record VchPlan(
    string Name,
    VspherePlacement? Vsphere,
    long? CpuMhz,
    long MemoryMb,
    string CertPath,
    string TlsCname,
    bool TlsVerify,
    IPEndPoint Endpoint,
    string Iso,
    VchSettings Settings)
{
    public string DockerHost => $"tcp://{TlsCname}:{Endpoint.Port}";

    /// <summary>The endpoint runs in an appliance VM in the pool, not beside vic-machine (<c>--local-endpoint</c>).</summary>
    public bool Appliance { get; init; }

    /// <summary>The appliance's ISO, when the endpoint runs in one and an ISO is to be uploaded; else empty.</summary>
    public string ApplianceIso { get; init; } = "";

    /// <summary>The appliance's static address on the public port group; null when it takes DHCP.</summary>
    public ApplianceAddress? StaticAddress { get; init; }

    /// <summary>vSphere's SDK as the appliance reaches it (<c>--appliance-target</c>, else the target's).</summary>
    public Uri? ApplianceSdk { get; init; }

    /// <summary>VIC's <c>--no-tls</c>: plain HTTP, no certificates made.</summary>
    public bool NoTls => Settings.NoTls == true;

    /// <summary>vicadmin's port: two above the Docker API's, as VIC's 2378 was beside 2376.</summary>
    public int VicadminPort => Endpoint.Port + 2;

    /// <summary>VIC's "VCH Admin Portal" line: where an admin's browser goes.</summary>
    public string VicadminUrl => $"https://{TlsCname}:{VicadminPort}/";

    public string ServerCertFile => Path.Combine(CertPath, "server-cert.pem");

    public string ServerKeyFile => Path.Combine(CertPath, "server-key.pem");

    /// <summary>What clients are verified with: the <c>--tls-ca</c> bundle when given, else the VCH's own CA.</summary>
    public string ClientVerificationCaFile => File.Exists(ClientCaFile) ? ClientCaFile : Path.Combine(CertPath, "ca.pem");

    /// <summary>The CAs given to <c>--tls-ca</c>, as one bundle: the endpoint verifies clients with it.</summary>
    public string ClientCaFile => Path.Combine(CertPath, "client-ca.pem");

    /// <summary>Whether clients are verified with CAs the admin gave (<c>--tls-ca</c>) rather than the VCH's own.</summary>
    public bool ClientCaGiven => Settings.TlsCa.Count > 0;

    /// <summary>The registry CAs (<c>--registry-ca</c>) as one bundle, copied here by create.</summary>
    public string RegistryCaFile => Path.Combine(CertPath, "registry-ca.pem");

    /// <summary>The authorization policy the endpoint enforces, copied here by create.</summary>
    public string AuthzPolicyFile => Path.Combine(CertPath, "authz-policy.yaml");

    /// <summary>A VCH not on vSphere has no vSphere accounts: its vicadmin logins are in this file.</summary>
    public string VicadminPasswordFile => Path.Combine(CertPath, "vicadmin-password");

    /// <param name="forList">ls: no compute resource needed (it looks across the datacenter).</param>
    /// <param name="withIso">upgrade: an ISO to upload (the default one when none is given), of a VCH that exists.</param>
    public static VchPlan Validate(VchSettings settings, bool forCreate, bool forList = false, bool withIso = false)
    {
        var name = settings.Name ?? throw new MachineException("--name is required");
        if (!NamePattern().IsMatch(name))
        {
            throw new MachineException($"--name '{name}': 1-31 letters, digits and '-', starting with a letter or digit");
        }

        var target = settings.Target ?? throw new MachineException("--target is required (a vCenter or ESXi host, or local)");
        if (target == "local" && settings.ContainerNetwork.Count > 0)
        {
            throw new MachineException("--container-network maps vSphere port groups: a local VCH has none");
        }

        var noTls = settings.NoTls == true;
        if (settings.TlsCa.Count > 0 && (noTls || settings.NoTlsverify == true))
        {
            throw new MachineException("--tls-ca gives the CAs that verify clients: it cannot go with --no-tls or --no-tlsverify");
        }

        ValidateEndpointOptions(settings);
        var staticAddress = ApplianceAddress.Of(settings, forCreate);
        var endpoint = ParseEndpoint(settings.EndpointAddress ?? staticAddress?.Address.ToString() ?? (noTls ? "127.0.0.1:2375" : "127.0.0.1:2376"), noTls ? 2375 : 2376);
        var memory = settings.Memory ?? 4096;
        if (memory < 256)
        {
            throw new MachineException($"--memory {memory}: a VCH needs at least 256 MB");
        }

        if (settings.Cpu is < 100)
        {
            throw new MachineException($"--cpu {settings.Cpu}: the limit is in MHz; give at least 100");
        }

        var iso = settings.Iso is { } givenIso ? Path.GetFullPath(givenIso) : forCreate || withIso ? Installation.DefaultBootstrapIso() : "";
        if ((forCreate || withIso) && !File.Exists(iso))
        {
            throw new MachineException($"--bootstrap-iso: no bootstrap ISO at {iso} (iso/build.sh makes it)");
        }

        // A vSphere VCH's endpoint is an appliance VM unless asked otherwise; a record says which it is.
        if (target == "local" && settings.LocalEndpoint is not null)
        {
            throw new MachineException("--local-endpoint chooses where a vSphere VCH's endpoint runs: a local VCH's endpoint is always a process of this machine");
        }

        var appliance = target != "local" && (forCreate ? settings.LocalEndpoint != true : settings.InAppliance());
        if (staticAddress is not null && !appliance)
        {
            throw new MachineException("--public-network-ip is the appliance's address: a VCH whose endpoint runs on this machine (--local-endpoint, or --target local) has no appliance");
        }

        var applianceIso = "";
        if (appliance)
        {
            if (noTls)
            {
                throw new MachineException("the appliance serves the Docker API to the network: --no-tls is only for --local-endpoint");
            }

            // Said at once: the default (this machine's loopback) would be waited on in vain.
            if (forCreate && ((settings.EndpointAddress is null && staticAddress is null) || endpoint.Address.Equals(System.Net.IPAddress.Any)))
            {
                throw new MachineException("--endpoint-address: give the address clients reach the appliance's Docker API at (its DHCP reservation on the public port group, or the NAT's; the server certificate names it), or --public-network-ip for a static one, or --local-endpoint to run the endpoint here");
            }

            applianceIso = settings.ApplianceIso is { } givenAppliance ? Path.GetFullPath(givenAppliance) : forCreate || withIso ? Installation.DefaultApplianceIso() : "";
            if ((forCreate || withIso) && !File.Exists(applianceIso))
            {
                throw new MachineException($"--appliance-iso: no appliance ISO at {applianceIso} (iso/build-appliance.sh makes it)");
            }
        }

        VspherePlacement? vsphere = null;
        Uri? applianceSdk = null;
        if (target != "local")
        {
            var (sdk, userInTarget, passwordInTarget, datacenterInTarget) = ParseTarget(target);
            var user = settings.User ?? userInTarget ?? throw new MachineException("--user is required for a vSphere target (or user@host in --target)");
            var password = settings.Password ?? passwordInTarget ?? Environment.GetEnvironmentVariable("VIC_PASSWORD") ?? throw new MachineException("--password (or VIC_PASSWORD) is required for a vSphere target");
            var computeResource = settings.ComputeResource ?? (forList ? null : throw new MachineException("--compute-resource is required for a vSphere target (a cluster, host or resource pool)"));
            var imageStore = forCreate ? settings.ImageStore ?? throw new MachineException("--image-store is required (the datastore for the ISO and the disks)") : settings.ImageStore ?? "";
            var channel = settings.ChannelAddress is { } given
                ? IPAddress.TryParse(given, out var address) ? address : throw new MachineException($"--channel-address '{given}' is not an IP address")
                : SourceAddressTowards(sdk);
            vsphere = new VspherePlacement(new VimSessionConfig(sdk, user, password, settings.Thumbprint), settings.Datacenter ?? datacenterInTarget, computeResource, imageStore, channel);
            applianceSdk = settings.ApplianceTarget is { } seen ? ParseTarget(seen).Sdk : sdk;
        }

        return new VchPlan(
            name,
            vsphere,
            settings.Cpu,
            memory,
            Path.GetFullPath(settings.CertPath ?? name),
            settings.TlsCname ?? endpoint.Address.ToString(),
            settings.NoTlsverify != true && !noTls,
            endpoint,
            iso,
            settings)
        {
            Appliance = appliance,
            ApplianceIso = applianceIso,
            ApplianceSdk = applianceSdk,
            StaticAddress = staticAddress,
        };
    }

    /// <summary>
    /// The proxies and the syslog server, refused here as the endpoint would refuse them: in an
    /// appliance an endpoint that refuses its options never serves, and says so only on its console.
    /// </summary>
    private static void ValidateEndpointOptions(VchSettings settings)
    {
        static string? Given(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        try
        {
            new Vic.Registry.ProxySettings(Given(settings.HttpProxy), Given(settings.HttpsProxy), Given(settings.NoProxy)).Validate();
            if (Given(settings.SyslogAddress) is { } syslog)
            {
                Vic.PortLayer.Containers.SyslogTarget.ForEndpoint(syslog, "vch-endpoint");
            }
        }
        catch (Exception ex) when (ex is ArgumentException or Vic.PortLayer.Errors.PortLayerException)
        {
            throw new MachineException(ex.Message);
        }
    }

    /// <summary>
    /// VIC's <c>--target</c>: <c>host</c>, <c>user:password@host</c>, <c>host/datacenter</c>, with or
    /// without <c>https://</c>; ours too: <c>https://host/sdk</c>.
    /// </summary>
    private static (Uri Sdk, string? User, string? Password, string? Datacenter) ParseTarget(string target)
    {
        if (!Uri.TryCreate(target.Contains("://", StringComparison.Ordinal) ? target : $"https://{target}", UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps || uri.Host.Length == 0)
        {
            throw new MachineException($"--target '{target}': a host name, user:password@host/datacenter, https://host/sdk, or local");
        }

        var path = Uri.UnescapeDataString(uri.AbsolutePath).Trim('/');
        if (path.Contains('/', StringComparison.Ordinal))
        {
            throw new MachineException($"--target '{target}' should only name a datacenter in its path (https://host/datacenter): give the cluster, host or pool with --compute-resource");
        }

        var credentials = uri.UserInfo.Split(':', 2);
        return (
            new Uri($"https://{uri.Authority}/sdk"),
            uri.UserInfo.Length == 0 ? null : Uri.UnescapeDataString(credentials[0]),
            credentials.Length == 2 ? Uri.UnescapeDataString(credentials[1]) : null,
            path is "" or "sdk" ? null : path);
    }

    private static IPEndPoint ParseEndpoint(string text, int defaultPort) =>
        IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0 ? endpoint
        : IPAddress.TryParse(text, out var address) ? new IPEndPoint(address, defaultPort)
        : throw new MachineException($"--endpoint-address '{text}': IP:PORT");

    /// <summary>The local address the operating system would use towards the target: what its VMs can reach.</summary>
    private static IPAddress SourceAddressTowards(Uri sdk)
    {
        try
        {
            var host = IPAddress.TryParse(sdk.Host, out var address) ? address : Dns.GetHostAddresses(sdk.Host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            probe.Connect(host, 443);
            return ((IPEndPoint)probe.LocalEndPoint!).Address;
        }
        catch (SocketException ex)
        {
            throw new MachineException($"cannot tell which address of this machine {sdk.Host} reaches ({ex.Message}); give --channel-address");
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,30}$")]
    private static partial Regex NamePattern();
}
