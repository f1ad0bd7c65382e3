using System.Net;
using Vic.PortLayer.Compute;
using Vic.Vim25;

namespace Vic.Backends.Vsphere;

/// <summary>Where a VCH lives in vSphere and how its ContainerVMs reach the endpoint.</summary>
/// <param name="Datacenter">The datacenter's inventory path, <c>DC0</c>.</param>
/// <param name="ComputeResource">
/// The cluster or host, <c>DC0/host/DC0_C0</c> (the VCH's pool goes under its root pool), or a
/// pool in it, <c>DC0/host/DC0_C0/Resources/team</c> (the VCH's pool goes there).
/// </param>
/// <param name="VchName">Names the VCH's resource pool, its datastore folder and its VMs' tag.</param>
/// <param name="Datastore">The image datastore: the ISO, imported disks and the VMs' files.</param>
/// <param name="ChannelAddress">The endpoint address ContainerVMs' serial ports connect to.</param>
/// <param name="PoolLimit">The pool's CPU and memory limits, enforced here too for a clear error.</param>
public sealed record VsphereBackendOptions(
    VimSessionConfig Session,
    string Datacenter,
    string ComputeResource,
    string VchName,
    string Datastore,
    IPAddress ChannelAddress,
    VmResources PoolLimit)
{
    public string PoolPath => $"{ParentPoolPath}/{VchName}";

    /// <summary>The pool the VCH's pool is in: a path with a <c>Resources</c> segment after <c>host/CR</c> names a pool already.</summary>
    public string ParentPoolPath
    {
        get
        {
            var segments = ComputeResource.Split('/');
            var host = Array.IndexOf(segments, "host");
            return host >= 0 && segments.Skip(host + 2).Contains("Resources") ? ComputeResource : $"{ComputeResource}/Resources";
        }
    }

    public string VmFolderPath => $"{Datacenter}/vm";

    /// <summary>The local address the channel ports are bound to: <see cref="ChannelAddress"/> unless ContainerVMs reach the endpoint through a NAT's.</summary>
    public IPAddress ChannelListen { get; init; } = ChannelAddress;

    /// <summary>The bootstrap ISO on the datastore (vic-machine uploads it).</summary>
    public string IsoPath => $"[{Datastore}] {VchName}/bootstrap.iso";

    public string GuestId { get; init; } = "otherLinux64Guest";

    /// <summary>The port group of the containers' bridge networks: a ContainerVM on one gets its eth0 there.</summary>
    public string? BridgeNetwork { get; init; }

    /// <summary>The port group of the way out: a ContainerVM allowed out gets its eth1 there.</summary>
    public string? PublicNetwork { get; init; }

    /// <summary>How eth1 on the public port group is addressed; null leaves it unaddressed (no way out).</summary>
    public PublicAddressing? PublicAddressing { get; init; }

    /// <summary>How often the inventory is read for changes made outside the VCH.</summary>
    public TimeSpan WatchInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether ContainerVMs of the parent's size are instant clones of the VCH's parent (else linked clones of its template).</summary>
    public bool InstantClone { get; init; } = true;

    /// <summary>How long a powered-on ContainerVM may take to connect its serial port.</summary>
    public TimeSpan ChannelTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Addresses for ContainerVMs on the public port group: each gets its own from <paramref name="Range"/>
/// (a CIDR inside <paramref name="Subnet"/>), with the port group's gateway and nameservers.
/// </summary>
public sealed record PublicAddressing(string Subnet, string Gateway, string Range, IReadOnlyList<string> Nameservers);
