using System.CommandLine;
using Vic.Endpoint.Configuration;
using Vic.Endpoint.Hosting;

var hosts = new Option<string[]>("--host", "-H") { Description = "Address to serve: tcp://IP:PORT or unix:///path (repeatable)", AllowMultipleArgumentsPerToken = false };
var tls = new Option<bool>("--tls") { Description = "Serve TLS with --tlscert/--tlskey (default port 2376)" };
var tlsVerify = new Option<bool>("--tlsverify") { Description = "Serve TLS and require client certificates signed by --tlscacert" };
var tlsCaCert = new Option<string?>("--tlscacert") { Description = "CA that signs client certificates (PEM)" };
var tlsCert = new Option<string?>("--tlscert") { Description = "Server certificate (PEM)" };
var tlsKey = new Option<string?>("--tlskey") { Description = "Server private key (PEM)" };
var allowInsecureRemote = new Option<bool>("--allow-insecure-remote") { Description = "Serve plain HTTP on non-loopback addresses (unsafe)" };
var name = new Option<string>("--name") { Description = "Name of this VCH", DefaultValueFactory = _ => "vch" };
var dataDir = new Option<string>("--data-dir") { Description = "Where the VCH keeps its state", DefaultValueFactory = _ => "/var/lib/vch" };
var poolCpu = new Option<int?>("--pool-cpu") { Description = "vCPUs all ContainerVMs together may use (default: host CPUs)" };
var poolMemory = new Option<string?>("--pool-memory") { Description = "Memory all ContainerVMs together may use, e.g. 8g (default: half the host)" };
var kernel = new Option<string?>("--containervm-kernel") { Description = "Kernel the ContainerVMs boot (iso/out/vmlinux; a bzImage also boots)" };
var initramfs = new Option<string?>("--containervm-initramfs") { Description = "Initramfs with vic-init and the tether (iso/out/initramfs.cpio; a compressed one also boots)" };
var backendOption = new Option<string>("--backend") { Description = "Compute backend: none (API only), qemu or vsphere", DefaultValueFactory = _ => "none" };
var noInstantClone = new Option<bool>("--no-instant-clone") { Description = "Cold-boot every ContainerVM instead of restoring a template" };
var cloneMemory = new Option<string>("--containervm-clone-memory") { Description = "How an instant clone gets the template's RAM: copy-on-write (shared until written) or full-copy (each clone reads all of it; to compare)", DefaultValueFactory = _ => "copy-on-write" };
var tcgCache = new Option<int?>("--containervm-tcg-cache") { Description = "Under TCG: each ContainerVM's cache of translated guest code, in MiB" };
var readyClones = new Option<int?>("--containervm-ready-clones") { Description = "ContainerVMs kept restored and answering ahead of need (0-8; default 2): each holds an idle ContainerVM's memory" };
var insecureRegistry = new Option<string[]>("--insecure-registry") { Description = "Registry (host:port or CIDR) reached without TLS verification (repeatable)" };
var registryCa = new Option<string[]>("--registry-ca") { Description = "A PEM file of CAs trusted for every registry (repeatable); per registry, DATA/certs.d/HOST/ca.crt" };
var registryMirror = new Option<string[]>("--registry-mirror") { Description = "Mirror that serves docker.io images (repeatable)" };
var target = new Option<string?>("--target") { Description = "vSphere: vCenter or ESXi, a host name or https://host/sdk" };
var user = new Option<string?>("--user") { Description = "vSphere: user name" };
var password = new Option<string?>("--password") { Description = "vSphere: password (or VIC_PASSWORD in the environment)" };
var passwordFile = new Option<string?>("--password-file") { Description = "vSphere: a file whose first line is the password (the appliance's, on its config disk)" };
var thumbprint = new Option<string?>("--thumbprint") { Description = "vSphere: the server certificate's SHA-1 thumbprint, for a self-signed certificate" };
var targetInsecure = new Option<bool>("--target-insecure") { Description = "vSphere: accept any server certificate (labs only)" };
var datacenter = new Option<string?>("--datacenter") { Description = "vSphere: the datacenter's inventory path" };
var computeResource = new Option<string?>("--compute-resource") { Description = "vSphere: the cluster or host, e.g. DC0/host/cluster1; the VCH pool is under it" };
var imageStore = new Option<string?>("--image-store") { Description = "vSphere: the datastore for the ISO, disks and ContainerVM files" };
var bridgeNetwork = new Option<string?>("--bridge-network") { Description = "vSphere: the port group of the containers' bridge NICs" };
var publicNetwork = new Option<string?>("--public-network") { Description = "vSphere: the port group of the containers' way out" };
var publicNetworkGateway = new Option<string?>("--public-network-gateway") { Description = "vSphere: GATEWAY/PREFIX of the public port group; containers get addresses there" };
var publicNetworkIpRange = new Option<string?>("--public-network-ip-range") { Description = "vSphere: the CIDR containers' public addresses come from" };
var publicNetworkDns = new Option<string?>("--public-network-dns") { Description = "vSphere: nameservers on the public port group, comma-separated" };
var containerNetwork = new Option<string[]>("--container-network") { Description = "vSphere: a port group mapped into containers, portgroup[:name] (repeatable)" };
var containerNetworkGateway = new Option<string[]>("--container-network-gateway") { Description = "portgroup:GATEWAY/PREFIX of a container network (repeatable)" };
var containerNetworkIpRange = new Option<string[]>("--container-network-ip-range") { Description = "portgroup:CIDR containers get addresses from (repeatable)" };
var containerNetworkDns = new Option<string[]>("--container-network-dns") { Description = "portgroup:DNS[,DNS] of a container network (repeatable)" };
var channelAddress = new Option<string?>("--channel-address") { Description = "vSphere: the endpoint's IP address as ContainerVMs reach it" };
var channelListen = new Option<string?>("--channel-listen") { Description = "vSphere: the local address the channel ports are bound to, when ContainerVMs reach the endpoint through another (default: --channel-address)" };
var authzPolicy = new Option<string?>("--authz-policy") { Description = "A YAML file saying what each user (client certificate CN, with --tlsverify) may do: read, run, exec, pull, push, build, remove, manage; per image repository and container label" };
var httpProxy = new Option<string?>("--http-proxy") { Description = "The proxy for http:// registries and downloads, http://[user:password@]host:port (default: HTTP_PROXY)" };
var httpsProxy = new Option<string?>("--https-proxy") { Description = "The proxy for https:// registries and downloads (default: HTTPS_PROXY)" };
var noProxy = new Option<string?>("--no-proxy") { Description = "Hosts, domains (.example.com), IPs and CIDRs reached without a proxy, comma-separated (default: NO_PROXY)" };
var syslogAddress = new Option<string?>("--syslog-address") { Description = "Send the endpoint's log to this syslog server as well, udp://host[:port], tcp://host[:port], unix:///path or unixgram:///path" };
var vicadmin = new Option<string?>("--vicadmin") { Description = "Serve vicadmin, the VCH's admin page, over TLS on this address, e.g. 127.0.0.1:2378" };
var vicadminPasswordFile = new Option<string?>("--vicadmin-password-file") { Description = "vicadmin logins: a file of user:password lines (the local backend; on vSphere, vSphere accounts log in)" };
var volumeStore = new Option<string[]>("--volume-store") { Description = "An NFS volume store, nfs://host[:port]/path[?uid=N&gid=M]:label (repeatable; the local store is 'default')" };

var root = new RootCommand("vch-endpoint: the Docker API of a Virtual Container Host")
{
    hosts, tls, tlsVerify, tlsCaCert, tlsCert, tlsKey, allowInsecureRemote, name, dataDir, poolCpu, poolMemory, kernel, initramfs, backendOption, noInstantClone, cloneMemory, tcgCache, readyClones,
    insecureRegistry, registryMirror, registryCa, httpProxy, httpsProxy, noProxy, syslogAddress, volumeStore, vicadmin, vicadminPasswordFile, authzPolicy,
    target, user, password, passwordFile, thumbprint, targetInsecure, datacenter, computeResource, imageStore, channelAddress, channelListen, bridgeNetwork, publicNetwork,
    containerNetwork, containerNetworkGateway, containerNetworkIpRange, containerNetworkDns, publicNetworkGateway, publicNetworkIpRange, publicNetworkDns,
};

root.SetAction(async (parse, cancellationToken) =>
{
    var options = new EndpointOptions
    {
        Hosts = parse.GetValue(hosts) ?? [],
        Tls = parse.GetValue(tls),
        TlsVerify = parse.GetValue(tlsVerify),
        TlsCaCert = parse.GetValue(tlsCaCert),
        TlsCert = parse.GetValue(tlsCert),
        TlsKey = parse.GetValue(tlsKey),
        AllowInsecureRemote = parse.GetValue(allowInsecureRemote),
        Name = parse.GetValue(name)!,
        DataDirectory = parse.GetValue(dataDir)!,
        PoolCpus = parse.GetValue(poolCpu),
        PoolMemory = parse.GetValue(poolMemory),
        ContainerVmKernel = parse.GetValue(kernel),
        ContainerVmInitramfs = parse.GetValue(initramfs),
        Backend = parse.GetValue(backendOption)!,
        NoInstantClone = parse.GetValue(noInstantClone),
        CloneMemory = parse.GetValue(cloneMemory)!,
        TcgCacheMiB = parse.GetValue(tcgCache),
        ReadyClones = parse.GetValue(readyClones),
        InsecureRegistries = parse.GetValue(insecureRegistry) ?? [],
        RegistryMirrors = parse.GetValue(registryMirror) ?? [],
        RegistryCas = parse.GetValue(registryCa) ?? [],
        HttpProxy = parse.GetValue(httpProxy),
        HttpsProxy = parse.GetValue(httpsProxy),
        NoProxy = parse.GetValue(noProxy),
        SyslogAddress = parse.GetValue(syslogAddress),
        VolumeStores = parse.GetValue(volumeStore) ?? [],
        Vicadmin = parse.GetValue(vicadmin),
        AuthzPolicy = parse.GetValue(authzPolicy),
        VicadminPasswordFile = parse.GetValue(vicadminPasswordFile),
        Target = parse.GetValue(target),
        User = parse.GetValue(user),
        Password = parse.GetValue(password),
        PasswordFile = parse.GetValue(passwordFile),
        Thumbprint = parse.GetValue(thumbprint),
        TargetInsecure = parse.GetValue(targetInsecure),
        Datacenter = parse.GetValue(datacenter),
        ComputeResource = parse.GetValue(computeResource),
        ImageStore = parse.GetValue(imageStore),
        ChannelAddress = parse.GetValue(channelAddress),
        ChannelListen = parse.GetValue(channelListen),
        BridgeNetwork = parse.GetValue(bridgeNetwork),
        PublicNetwork = parse.GetValue(publicNetwork),
        PublicNetworkGateway = parse.GetValue(publicNetworkGateway),
        PublicNetworkIpRange = parse.GetValue(publicNetworkIpRange),
        PublicNetworkDns = parse.GetValue(publicNetworkDns),
        ContainerNetworks = parse.GetValue(containerNetwork) ?? [],
        ContainerNetworkGateways = parse.GetValue(containerNetworkGateway) ?? [],
        ContainerNetworkIpRanges = parse.GetValue(containerNetworkIpRange) ?? [],
        ContainerNetworkDns = parse.GetValue(containerNetworkDns) ?? [],
    };

    EndpointConfig config;
    try
    {
        config = options.Validate();
    }
    catch (Exception ex) when (ex is ArgumentException or FormatException)
    {
        await Console.Error.WriteLineAsync($"vch-endpoint: {ex.Message}").ConfigureAwait(false);
        return 2;
    }

    // Every other HTTP client (a build context or an import fetched from a URL) goes the way the
    // registries go, by the same rules; vSphere is reached directly (VimSession uses no proxy), as
    // VIC's appliance reached it. Child processes (git, for a build context from a repository) get
    // them as their environment, as dockerd's do, in both cases: curl reads only http_proxy's lower case.
    var proxies = config.Vch.Registries.Proxies;
    HttpClient.DefaultProxy = new Vic.Registry.ProxyRoute(proxies);
    foreach (var (variable, value) in new[] { ("HTTP_PROXY", proxies.HttpProxy), ("HTTPS_PROXY", proxies.HttpsProxy), ("NO_PROXY", proxies.NoProxy) })
    {
        Environment.SetEnvironmentVariable(variable, value);
        Environment.SetEnvironmentVariable(variable.ToLowerInvariant(), value);
    }

    await using var app = VchEndpointHost.Build(config);
    await app.RunAsync(cancellationToken).ConfigureAwait(false);
    return 0;
});

// SIGTERM (a service manager's stop) stops the endpoint cleanly: its ready clones are discarded,
// its store closed. System.CommandLine's own 2 s would end the process in the middle of that.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) }).ConfigureAwait(false);
