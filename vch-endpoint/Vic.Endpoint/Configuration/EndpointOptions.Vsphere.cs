using Vic.PortLayer.Volumes;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Vch;

namespace Vic.Endpoint.Configuration;

/// <summary>The vSphere options' validation: the target, its port groups and their addressing.</summary>
public sealed partial record EndpointOptions
{
    /// <summary>Port groups with their addressing; each needs a gateway (the guest has no DHCP client).</summary>
    private List<Vic.PortLayer.Networks.ContainerNetworkConfig> ContainerNetworksOf()
    {
        static (string PortGroup, string Value) Split(string text, string option)
        {
            var colon = text.LastIndexOf(':');
            return colon > 0 ? (text[..colon], text[(colon + 1)..]) : throw new ArgumentException($"{option} '{text}': portgroup:value");
        }

        var networks = new List<Vic.PortLayer.Networks.ContainerNetworkConfig>();
        foreach (var given in ContainerNetworks)
        {
            var (portGroup, name) = given.Contains(':', StringComparison.Ordinal) ? Split(given, "--container-network") : (given, given);
            string? For(IReadOnlyList<string> values, string option) =>
                values.Select(v => Split(v, option)).Where(v => v.PortGroup == portGroup).Select(v => v.Value).FirstOrDefault();
            var gateway = For(ContainerNetworkGateways, "--container-network-gateway")
                ?? throw new ArgumentException($"--container-network {given}: give --container-network-gateway {portGroup}:GATEWAY/PREFIX (DHCP is not supported yet)");
            var slash = gateway.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                throw new ArgumentException($"--container-network-gateway {portGroup}:{gateway}: GATEWAY/PREFIX, e.g. 10.3.0.1/24");
            }

            networks.Add(new Vic.PortLayer.Networks.ContainerNetworkConfig(
                name,
                portGroup,
                gateway,
                gateway[..slash],
                For(ContainerNetworkIpRanges, "--container-network-ip-range") ?? "",
                [.. (For(ContainerNetworkDns, "--container-network-dns") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)]));
        }

        return networks;
    }

    private VsphereSettings VsphereOf()
    {
        string Required(string? value, string option) =>
            string.IsNullOrEmpty(value) ? throw new ArgumentException($"--backend vsphere needs {option}") : value;

        var target = Required(Target, "--target");
        if (!Uri.TryCreate(target.Contains("://", StringComparison.Ordinal) ? target : $"https://{target}/sdk", UriKind.Absolute, out var sdk) || sdk.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"--target: '{target}' is not a host or an https:// SDK URL");
        }

        if (sdk.AbsolutePath is "/" or "")
        {
            sdk = new Uri(sdk, "/sdk");
        }

        if (!System.Net.IPAddress.TryParse(Required(ChannelAddress, "--channel-address"), out var channel))
        {
            throw new ArgumentException($"--channel-address: '{ChannelAddress}' is not an IP address");
        }

        var session = new Vic.Vim25.VimSessionConfig(sdk, Required(User, "--user"), Password ?? PasswordFromFile() ?? Environment.GetEnvironmentVariable("VIC_PASSWORD") ?? "", Thumbprint, TargetInsecure);
        Vic.Backends.Vsphere.PublicAddressing? addressing = null;
        if (PublicNetworkGateway is { } gateway)
        {
            var slash = gateway.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0 || PublicNetwork is null)
            {
                throw new ArgumentException($"--public-network-gateway '{gateway}': GATEWAY/PREFIX, with --public-network");
            }

            addressing = new Vic.Backends.Vsphere.PublicAddressing(gateway, gateway[..slash], PublicNetworkIpRange ?? "", [.. (PublicNetworkDns ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)]);
        }

        System.Net.IPAddress? listen = null;
        if (ChannelListen is { } givenListen && !System.Net.IPAddress.TryParse(givenListen, out listen))
        {
            throw new ArgumentException($"--channel-listen: '{givenListen}' is not an IP address");
        }

        return new VsphereSettings(session, Required(Datacenter, "--datacenter"), Required(ComputeResource, "--compute-resource"), Required(ImageStore, "--image-store"), channel, BridgeNetwork, PublicNetwork, addressing)
        {
            ChannelListen = listen,
        };
    }

    private Vic.PortLayer.Containers.SyslogTarget? SyslogOf()
    {
        try
        {
            return SyslogAddress is { Length: > 0 } address ? Vic.PortLayer.Containers.SyslogTarget.ForEndpoint(address, "vch-endpoint") : null;
        }
        catch (Vic.PortLayer.Errors.PortLayerException ex)
        {
            throw new ArgumentException(ex.Message, ex);
        }
    }

    private string? PasswordFromFile()
    {
        if (PasswordFile is null)
        {
            return null;
        }

        try
        {
            return File.ReadLines(PasswordFile).FirstOrDefault() is { Length: > 0 } password
                ? password
                : throw new ArgumentException($"--password-file {PasswordFile}: the file holds no password on its first line");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--password-file {PasswordFile}: {ex.Message}", ex);
        }
    }
}
