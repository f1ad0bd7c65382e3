using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Vic.Machine;

/// <summary>
/// A VCH's settings as an operator gives them, on the command line or in <c>--config vch.yaml</c>
/// (the same names in kebab-case); the command line wins where both say something. Validated into
/// a <see cref="VchPlan"/> before anything is changed.
/// </summary>
public sealed class VchSettings
{
    private static readonly IDeserializer Reader = new DeserializerBuilder().WithNamingConvention(HyphenatedNamingConvention.Instance).Build();
    private static readonly ISerializer Writer = new SerializerBuilder().WithNamingConvention(HyphenatedNamingConvention.Instance).ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull).Build();

    /// <summary><c>local</c>, or vCenter/ESXi: a host name or <c>https://host/sdk</c>.</summary>
    public string? Target { get; set; }

    public string? User { get; set; }

    public string? Password { get; set; }

    public string? Thumbprint { get; set; }

    public string? Name { get; set; }

    /// <summary>The datacenter, when the target has more than one (default: the only one).</summary>
    public string? Datacenter { get; set; }

    /// <summary>The cluster or host, as an inventory path under the datacenter's host folder, e.g. <c>cluster1</c>.</summary>
    public string? ComputeResource { get; set; }

    public string? ImageStore { get; set; }

    /// <summary>Volume stores, <c>nfs://host/path:label</c> (the image store holds the default one).</summary>
    public List<string> VolumeStore { get; set; } = [];

    public string? BridgeNetwork { get; set; }

    public string? PublicNetwork { get; set; }

    /// <summary>GATEWAY/PREFIX of the public port group: containers get addresses there from the range.</summary>
    public string? PublicNetworkGateway { get; set; }

    public string? PublicNetworkIpRange { get; set; }

    /// <summary>The appliance's static address on the public port group, IP[/PREFIX] (VIC's); without it the appliance takes DHCP.</summary>
    public string? PublicNetworkIp { get; set; }

    public string? PublicNetworkDns { get; set; }

    /// <summary>Port groups mapped into containers, <c>portgroup[:alias]</c>.</summary>
    public List<string> ContainerNetwork { get; set; } = [];

    /// <summary><c>portgroup:GATEWAY/PREFIX</c> of each container network (DHCP is not supported yet).</summary>
    public List<string> ContainerNetworkGateway { get; set; } = [];

    /// <summary><c>portgroup:CIDR</c> that containers get addresses from.</summary>
    public List<string> ContainerNetworkIpRange { get; set; } = [];

    /// <summary><c>portgroup:DNS[,DNS]</c>.</summary>
    public List<string> ContainerNetworkDns { get; set; } = [];

    /// <summary>The pool's CPU limit in MHz (VIC's unit); unset is unlimited.</summary>
    public long? Cpu { get; set; }

    /// <summary>The pool's memory limit in MB; unset is 4096.</summary>
    public long? Memory { get; set; }

    /// <summary>The name clients use for the endpoint: the server certificate's subject and DOCKER_HOST.</summary>
    public string? TlsCname { get; set; }

    /// <summary>Serve TLS without client certificates (anyone who reaches the endpoint may use it).</summary>
    public bool? NoTlsverify { get; set; }

    /// <summary>VIC's <c>--tls-ca</c>: PEM files of the CAs whose client certificates the VCH accepts (instead of its own CA's).</summary>
    public List<string> TlsCa { get; set; } = [];

    /// <summary>VIC's <c>--no-tls</c>: no TLS at all, the Docker API in plain HTTP on 2375.</summary>
    public bool? NoTls { get; set; }

    public List<string> InsecureRegistry { get; set; } = [];

    public List<string> RegistryMirror { get; set; } = [];

    /// <summary>VIC's <c>--registry-ca</c>: PEM files of CAs the VCH trusts for every registry; create copies them into the cert path.</summary>
    public List<string> RegistryCa { get; set; } = [];

    /// <summary>VIC's proxies for the VCH's pulls (and dockerd's): http:// and https:// registries, and the hosts reached without one.</summary>
    public string? HttpProxy { get; set; }

    public string? HttpsProxy { get; set; }

    public string? NoProxy { get; set; }

    /// <summary>VIC's syslog server for the VCH's own log, udp://host[:port] or tcp://host[:port].</summary>
    public string? SyslogAddress { get; set; }

    /// <summary>Where the certificates, the endpoint's state and its log live (default: ./NAME).</summary>
    public string? CertPath { get; set; }

    /// <summary>The address and port the endpoint listens on (default 127.0.0.1:2376).</summary>
    public string? EndpointAddress { get; set; }

    /// <summary>The endpoint's address as ContainerVMs reach it (vSphere; default: the address that reaches the target).</summary>
    public string? ChannelAddress { get; set; }

    /// <summary>What each user may do (the endpoint's <c>--authz-policy</c>); create copies it into the cert path.</summary>
    public string? AuthzPolicy { get; set; }

    /// <summary>The bootstrap ISO to upload (default iso/out/bootstrap.iso).</summary>
    public string? Iso { get; set; }

    /// <summary>
    /// vSphere, for development: the endpoint runs as a process beside vic-machine rather than in
    /// the appliance VM create deploys in the VCH's pool. Create records it either way; a record
    /// without it is of a VCH made before appliances, whose endpoint ran beside vic-machine.
    /// </summary>
    public bool? LocalEndpoint { get; set; }

    /// <summary>Whether this record's VCH runs its endpoint in an appliance VM (a method: every property is a setting).</summary>
    public bool InAppliance() => LocalEndpoint == false;

    /// <summary>The appliance's boot image (default iso/out/appliance.iso).</summary>
    public string? ApplianceIso { get; set; }

    /// <summary>vSphere as the appliance reaches it, when that is not how vic-machine does (NAT, another network); default: the target.</summary>
    public string? ApplianceTarget { get; set; }

    /// <summary>Recorded by create, never given: the vic-machine version that made the VCH.</summary>
    public string? Version { get; set; }

    /// <summary>Recorded by create, never given: the inventory path of the pool the VCH's pool is in.</summary>
    public string? ParentPool { get; set; }

    public static VchSettings Load(string path)
    {
        try
        {
            return Reader.Deserialize<VchSettings>(File.ReadAllText(path)) ?? new VchSettings();
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new MachineException($"--config {path}: {ex.Message}");
        }
        catch (IOException ex)
        {
            throw new MachineException($"--config {path}: {ex.Message}");
        }
    }

    /// <summary>These settings, with every value <paramref name="overrides"/> gives taking the place of ours.</summary>
    public VchSettings With(VchSettings overrides)
    {
        var merged = (VchSettings)MemberwiseClone();
        foreach (var property in typeof(VchSettings).GetProperties())
        {
            var value = property.GetValue(overrides);
            if (value is not null && value is not System.Collections.ICollection { Count: 0 })
            {
                property.SetValue(merged, value);
            }
        }

        return merged;
    }

    /// <summary>
    /// YAML of what is recorded with the VCH: not the vSphere password. A proxy URL's credentials
    /// stay, since configure and upgrade write the appliance's config disk again from the record.
    /// </summary>
    public string ToRecord()
    {
        var copy = (VchSettings)MemberwiseClone();
        copy.Password = null;

        // A file of the machine create ran on: upgrade takes the one given to it, or the one shipped with vic-machine.
        copy.ApplianceIso = null;
        return Writer.Serialize(copy);
    }

    public static VchSettings FromRecord(string yaml) => Reader.Deserialize<VchSettings>(yaml) ?? new VchSettings();
}

/// <summary>A mistake of the operator's or a refusal of the target's, said in words they can act on.</summary>
public sealed class MachineException(string message) : Exception(message);
