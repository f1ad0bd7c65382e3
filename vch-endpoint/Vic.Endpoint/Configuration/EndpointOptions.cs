using Vic.PortLayer.Volumes;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Vch;

namespace Vic.Endpoint.Configuration;

/// <summary>The endpoint's options as given on the command line, before validation.</summary>
public sealed partial record EndpointOptions
{
    public IReadOnlyList<string> Hosts { get; init; } = [];

    public bool Tls { get; init; }

    public bool TlsVerify { get; init; }

    public string? TlsCaCert { get; init; }

    public string? TlsCert { get; init; }

    public string? TlsKey { get; init; }

    public bool AllowInsecureRemote { get; init; }

    public string Name { get; init; } = "vch";

    public string DataDirectory { get; init; } = "/var/lib/vch";

    public int? PoolCpus { get; init; }

    public string? PoolMemory { get; init; }

    public string? ContainerVmKernel { get; init; }

    /// <summary>The initramfs with vic-init and the tether (iso/out/initramfs.cpio).</summary>
    public string? ContainerVmInitramfs { get; init; }

    /// <summary>vSphere: the SDK URL (<c>https://vcenter/sdk</c>), credentials, and where the VCH lives.</summary>
    public string? Target { get; init; }

    public string? User { get; init; }

    public string? Password { get; init; }

    /// <summary><c>--password-file</c>: the password on the file's first line, kept out of the command line and the environment.</summary>
    public string? PasswordFile { get; init; }

    public string? Thumbprint { get; init; }

    public bool TargetInsecure { get; init; }

    public string? Datacenter { get; init; }

    public string? ComputeResource { get; init; }

    public string? ImageStore { get; init; }

    /// <summary>VIC's container networks: <c>portgroup[:name]</c>, and per port group <c>portgroup:gateway/prefix</c>, <c>portgroup:range-cidr</c>, <c>portgroup:dns</c>.</summary>
    public IReadOnlyList<string> ContainerNetworks { get; init; } = [];

    public IReadOnlyList<string> ContainerNetworkGateways { get; init; } = [];

    public IReadOnlyList<string> ContainerNetworkIpRanges { get; init; } = [];

    public IReadOnlyList<string> ContainerNetworkDns { get; init; } = [];

    /// <summary>The port groups of the containers' bridge NICs and of their way out.</summary>
    public string? BridgeNetwork { get; init; }

    public string? PublicNetwork { get; init; }

    /// <summary>How containers are addressed on the public port group: GATEWAY/PREFIX, the range (CIDR) and DNS.</summary>
    public string? PublicNetworkGateway { get; init; }

    public string? PublicNetworkIpRange { get; init; }

    public string? PublicNetworkDns { get; init; }

    /// <summary>The address ContainerVMs' serial ports connect to (the endpoint as the VMs reach it).</summary>
    public string? ChannelAddress { get; init; }

    /// <summary><c>--channel-listen</c>: the local address the channel ports are bound to (default: <see cref="ChannelAddress"/>).</summary>
    public string? ChannelListen { get; init; }

    /// <summary>"none" (API only), "qemu" (the local backend) or "vsphere".</summary>
    public string Backend { get; init; } = "none";

    public bool NoInstantClone { get; init; }

    /// <summary>"copy-on-write" or "full-copy": how an instant clone gets the template's RAM.</summary>
    public string CloneMemory { get; init; } = "copy-on-write";

    /// <summary>Under TCG, each ContainerVM's translation cache in MiB; null keeps the backend's default.</summary>
    public int? TcgCacheMiB { get; init; }

    /// <summary>ContainerVMs kept restored ahead of need; null keeps the backend's default.</summary>
    public int? ReadyClones { get; init; }

    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    public IReadOnlyList<string> RegistryMirrors { get; init; } = [];

    /// <summary><c>--registry-ca</c>: PEM files of CAs trusted for every registry.</summary>
    public IReadOnlyList<string> RegistryCas { get; init; } = [];

    /// <summary>VIC's <c>--syslog-address</c>: a syslog server the endpoint's log is sent to, udp://, tcp://, unix:// or unixgram://.</summary>
    public string? SyslogAddress { get; init; }

    /// <summary>dockerd's <c>--http-proxy</c>, <c>--https-proxy</c> and <c>--no-proxy</c>; each not given is the environment's.</summary>
    public string? HttpProxy { get; init; }

    public string? HttpsProxy { get; init; }

    public string? NoProxy { get; init; }

    /// <summary><c>--volume-store</c>: NFS volume stores, <c>nfs://host/path:label</c>.</summary>
    public IReadOnlyList<string> VolumeStores { get; init; } = [];

    /// <summary><c>--authz-policy</c>: a YAML file of what each user (client certificate CN) may do.</summary>
    public string? AuthzPolicy { get; init; }

    /// <summary><c>--vicadmin</c>: where vicadmin listens (TLS; VIC's port was 2378); null serves none.</summary>
    public string? Vicadmin { get; init; }

    /// <summary><c>--vicadmin-password-file</c>: <c>user:password</c> lines vicadmin's login form accepts.</summary>
    public string? VicadminPasswordFile { get; init; }

    /// <summary>Checks everything before anything is started; every problem is a sentence the operator can act on.</summary>
    public EndpointConfig Validate()
    {
        var mode = TlsVerify ? TlsMode.TlsVerify : Tls || TlsCert is not null ? TlsMode.Tls : TlsMode.None;
        var defaultPort = mode == TlsMode.None ? 2375 : 2376;
        var listen = (Hosts.Count == 0 ? [$"tcp://127.0.0.1:{defaultPort}"] : Hosts)
            .Select(h => ListenAddress.Parse(h, defaultPort)).ToList();

        TlsFiles? files = null;
        if (mode != TlsMode.None)
        {
            files = new TlsFiles(
                RequireFile(TlsCert, "--tlscert"),
                RequireFile(TlsKey, "--tlskey"),
                mode == TlsMode.TlsVerify ? RequireFile(TlsCaCert, "--tlscacert") : null);
        }
        else if (!AllowInsecureRemote && listen.OfType<TcpAddress>().FirstOrDefault(a => !a.IsLoopback) is { } exposed)
        {
            throw new ArgumentException(
                $"refusing to serve plain HTTP on {exposed}: anyone who can reach it controls the VCH. " +
                "Use --tls or --tlsverify, listen on 127.0.0.1, or pass --allow-insecure-remote");
        }

        var cpus = PoolCpus ?? Environment.ProcessorCount;
        if (cpus < 1)
        {
            throw new ArgumentException($"--pool-cpu must be at least 1, not {cpus}");
        }

        var memory = PoolMemory is null ? DefaultPoolMemory() : ByteSize.Parse(PoolMemory, "--pool-memory");
        if (memory < 64L << 20)
        {
            throw new ArgumentException("--pool-memory must be at least 64 MiB");
        }

        if (ContainerVmKernel is not null && !File.Exists(ContainerVmKernel))
        {
            throw new ArgumentException($"--containervm-kernel: no such file {ContainerVmKernel}");
        }

        QemuSettings? qemu = null;
        if (Backend == "qemu")
        {
            if (ContainerVmKernel is null || ContainerVmInitramfs is null)
            {
                throw new ArgumentException("--backend qemu needs --containervm-kernel and --containervm-initramfs (iso/build.sh makes them)");
            }

            if (!File.Exists(ContainerVmInitramfs))
            {
                throw new ArgumentException($"--containervm-initramfs: no such file {ContainerVmInitramfs}");
            }

            var cloneMemory = CloneMemory switch
            {
                "copy-on-write" => Vic.Backends.Qemu.CloneMemory.CopyOnWrite,
                "full-copy" => Vic.Backends.Qemu.CloneMemory.FullCopy,
                _ => throw new ArgumentException($"--containervm-clone-memory: {CloneMemory} is neither copy-on-write nor full-copy"),
            };
            if (TcgCacheMiB is < 1 or > 2048)
            {
                throw new ArgumentException($"--containervm-tcg-cache: {TcgCacheMiB} MiB is not between 1 and 2048");
            }

            if (ReadyClones is < 0 or > 8)
            {
                throw new ArgumentException($"--containervm-ready-clones: {ReadyClones} is not between 0 and 8");
            }

            qemu = new QemuSettings(Path.GetFullPath(ContainerVmKernel), Path.GetFullPath(ContainerVmInitramfs), !NoInstantClone, cloneMemory, TcgCacheMiB, ReadyClones);
        }
        VsphereSettings? vsphere = null;
        if (Backend == "vsphere")
        {
            vsphere = VsphereOf();
        }
        else if (Backend != "none" && Backend != "qemu")
        {
            throw new ArgumentException($"--backend: unknown backend '{Backend}' (none, qemu or vsphere)");
        }

        if (ContainerNetworks.Count > 0 && Backend != "vsphere")
        {
            throw new ArgumentException("--container-network maps vSphere port groups: it needs --backend vsphere");
        }

        var proxies = Vic.Registry.ProxySettings.FromOptionsOrEnvironment(HttpProxy, HttpsProxy, NoProxy);
        proxies.Validate();
        var vch = new VchConfig(
            Name,
            Path.GetFullPath(DataDirectory),
            new VmResources(cpus, memory),
            ContainerVmKernel,
            new RegistryConfig(InsecureRegistries, [.. RegistryMirrors.Select(NormalizeMirror)]) { CertificateAuthorities = RegistryAuthoritiesOf(RegistryCas), Proxies = proxies })
        {
            VolumeStores = VolumeStoresOf(VolumeStores),
            ContainerNetworks = ContainerNetworksOf(),
        };
        return new EndpointConfig(listen, mode, files, vch, qemu, vsphere) { Vicadmin = VicadminOf(mode, vsphere is not null), Authorization = AuthorizationOf(mode, listen), Syslog = SyslogOf() };
    }

    public const int DefaultVicadminPort = 2378;

    private Vic.Api.Authorization.AuthorizationPolicy? AuthorizationOf(TlsMode mode, IReadOnlyList<ListenAddress> listen)
    {
        if (AuthzPolicy is null)
        {
            return null;
        }

        if (mode != TlsMode.TlsVerify && listen.OfType<TcpAddress>().Any())
        {
            // Without client certificates every TCP caller is the same "anonymous": users cannot be told apart.
            throw new ArgumentException("--authz-policy names users by their client certificates: it needs --tlsverify (or unix sockets only)");
        }

        if (!File.Exists(AuthzPolicy))
        {
            throw new ArgumentException($"--authz-policy: no such file {AuthzPolicy}");
        }

        try
        {
            return Vic.Api.Authorization.PolicyFile.Load(Path.GetFullPath(AuthzPolicy));
        }
        catch (FormatException ex)
        {
            throw new ArgumentException($"--authz-policy: {ex.Message}", ex);
        }
    }

    private VicadminSettings? VicadminOf(TlsMode mode, bool onVsphere)
    {
        if (Vicadmin is null)
        {
            return VicadminPasswordFile is null ? null : throw new ArgumentException("--vicadmin-password-file needs --vicadmin ADDRESS (e.g. 127.0.0.1:2378)");
        }

        if (ListenAddress.Parse(Vicadmin, DefaultVicadminPort) is not TcpAddress tcp)
        {
            throw new ArgumentException($"--vicadmin: '{Vicadmin}' is not a TCP address; vicadmin is served over TLS on a port of its own");
        }

        if (VicadminPasswordFile is not null && !File.Exists(VicadminPasswordFile))
        {
            throw new ArgumentException($"--vicadmin-password-file: no such file {VicadminPasswordFile}");
        }

        if (VicadminPasswordFile is null && mode != TlsMode.TlsVerify && !onVsphere)
        {
            throw new ArgumentException(
                "--vicadmin: nobody could log in. Give --vicadmin-password-file (user:password lines), " +
                "or --tlsverify (the VCH's client certificates log in), or run on vSphere (vSphere accounts log in)");
        }

        return new VicadminSettings(tcp.EndPoint, VicadminPasswordFile is null ? null : Path.GetFullPath(VicadminPasswordFile));
    }

    private static List<VolumeStoreConfig> VolumeStoresOf(IReadOnlyList<string> texts)
    {
        var stores = texts.Select(VolumeStoreConfig.Parse).ToList();
        if (stores.GroupBy(s => s.Label).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new ArgumentException($"--volume-store: the label '{twice.Key}' is given twice");
        }

        // The volume service adds the local store as 'default' unless one of these takes the label.
        return stores;
    }

    // dockerd keeps mirrors as absolute http(s) URLs ending in '/', and refuses anything else up front.
    private static string NormalizeMirror(string mirror)
    {
        if (!Uri.TryCreate(mirror, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"--registry-mirror: invalid mirror '{mirror}': it must be an http:// or https:// URL");
        }

        return uri.AbsoluteUri.EndsWith('/') ? uri.AbsoluteUri : uri.AbsoluteUri + "/";
    }

    /// <summary>Each must be a readable PEM file with at least one certificate: a wrong file fails now, not at the first pull.</summary>
    private static List<string> RegistryAuthoritiesOf(IReadOnlyList<string> files) =>
        [.. files.Select(file =>
        {
            var path = Path.GetFullPath(RequireFile(file, "--registry-ca"));
            var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            try
            {
                certificates.ImportFromPemFile(path);
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                throw new ArgumentException($"--registry-ca {file}: not PEM certificates ({ex.Message})", ex);
            }

            return certificates.Count > 0 ? path : throw new ArgumentException($"--registry-ca {file}: no certificate in it");
        })];

    private static string RequireFile(string? path, string option) =>
        path is null ? throw new ArgumentException($"{option} is required with TLS")
        : File.Exists(path) ? path
        : throw new ArgumentException($"{option}: no such file {path}");

    // Half the host's memory: the other half stays for the endpoint, QEMU's own overhead and the host.
    private static long DefaultPoolMemory() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2 / (1L << 20) * (1L << 20);
}
