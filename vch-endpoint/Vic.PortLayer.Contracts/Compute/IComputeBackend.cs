namespace Vic.PortLayer.Compute;

/// <summary>
/// The hypervisor side of a VCH. Vocabulary:
/// <list type="bullet">
/// <item><b>ContainerVM</b> — one VM per container, booted from the bootstrap ISO (or cloned from a
/// template that was), whose PID 1 is the tether.</item>
/// <item><b>pool</b> — the VCH's share of the hypervisor (a vSphere resource pool, or the local QEMU
/// budget); a backend refuses a ContainerVM that would exceed its CPU or memory limit.</item>
/// <item><b>template</b> — a ContainerVM booted once and frozen where the tether waits for its spec;
/// instant clones fork from it.</item>
/// <item><b>disk</b> — a VMDK attached to a ContainerVM: image layers read-only, the scratch disk and
/// volumes read-write.</item>
/// <item><b>channel</b> — the one byte stream between the endpoint and a ContainerVM's tether.</item>
/// <item><b>extraConfig</b> — string pairs stored with the VM itself, so the inventory alone is enough
/// to rebuild the VCH's state after a restart.</item>
/// </list>
/// Implementations: QEMU (local) and vSphere; both pass the one conformance suite. A caller that
/// needs one part asks for its role (<see cref="IVmInventory"/>, <see cref="IVmChannels"/>, ...).
/// </summary>
public interface IComputeBackend : IVmProvisioning, IVmPower, IVmDisks, IVmInventory, IVmChannels
{
}

/// <summary>Makes ContainerVMs and takes them away.</summary>
public interface IVmProvisioning
{
    /// <summary>Makes a powered-off ContainerVM that will cold boot from the ISO.</summary>
    Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken);

    /// <summary>
    /// Makes a running ContainerVM forked from the template; falls back to slower paths the server
    /// offers and reports the one it took in <see cref="ContainerVm.Provisioning"/>.
    /// </summary>
    Task<ContainerVm> CloneAsync(ContainerVmSpec spec, CancellationToken cancellationToken);

    /// <summary>Powers off if needed and deletes the VM and its own disks (never shared layers).</summary>
    Task DestroyAsync(string vmId, CancellationToken cancellationToken);
}

/// <summary>A ContainerVM's power and size.</summary>
public interface IVmPower
{
    Task PowerOnAsync(string vmId, CancellationToken cancellationToken);

    /// <summary>Powers off; <paramref name="force"/> pulls the plug instead of asking the guest.</summary>
    Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken);

    /// <summary>Changes CPU and memory; refused where the backend cannot do it in the VM's power state.</summary>
    Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken);
}

/// <summary>Disks plugged into and out of a ContainerVM (volumes, a commit's scratch reader).</summary>
public interface IVmDisks
{
    Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken);

    Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken);
}

/// <summary>What the hypervisor holds, read from it: the pool, its ContainerVMs, and their changes.</summary>
public interface IVmInventory
{
    /// <summary>Short name shown in <c>docker info</c>, e.g. <c>qemu</c> or <c>vsphere</c>.</summary>
    string Name { get; }

    Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken);

    /// <summary>Every ContainerVM in the pool, read from the hypervisor, not from our memory of it.</summary>
    Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Changes the hypervisor saw, ours or out-of-band: a VM that died, was powered off or deleted.</summary>
    IAsyncEnumerable<ContainerVmChange> WatchAsync(CancellationToken cancellationToken);
}

/// <summary>The byte stream to a ContainerVM's tether.</summary>
public interface IVmChannels
{
    /// <summary>Opens the byte stream to the ContainerVM's tether.</summary>
    Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken);
}

public enum PowerState
{
    Off,
    On,
    Suspended,
}

/// <summary>How a ContainerVM came to be running.</summary>
public enum ProvisioningPath
{
    ColdBoot,
    InstantClone,
    LinkedClone,
}

public enum DiskRole
{
    ImageLayer,
    Scratch,
    Volume,
}

public sealed record VmResources(int Cpus, long MemoryBytes);

public sealed record DiskAttachment(string Id, string Path, DiskRole Role, bool ReadOnly);

public sealed record ContainerVmSpec(
    string ContainerId,
    string Name,
    VmResources Resources,
    IReadOnlyList<DiskAttachment> Disks,
    IReadOnlyDictionary<string, string> ExtraConfig,
    VmNetworkSpec? Network = null,
    IReadOnlyList<SharedFolder>? Shares = null);

/// <summary>
/// A host folder the ContainerVM sees as a file system named <see cref="Tag"/> (virtiofs on QEMU).
/// A backend whose VMs do not run on this host refuses it.
/// </summary>
/// <param name="CreateIfMissing">Make the host folder when it does not exist, as <c>docker run -v</c> does.</param>
public sealed record SharedFolder(string Tag, string HostPath, bool ReadOnly, bool CreateIfMissing);

/// <summary>
/// How a ContainerVM is wired: its NIC on the VCH's bridge segment (with the MAC the guest takes),
/// whether it may reach the outside through the public NIC, and the host ports forwarded to it.
/// Null wires nothing (<c>--network none</c>).
/// </summary>
public sealed record VmNetworkSpec(string BridgeMac, bool Outbound, IReadOnlyList<PortForward> Forwards)
{
    /// <summary>Whether the VM is on a bridge network at all (a container may be only on port groups).</summary>
    public bool OnBridge { get; init; } = true;

    /// <summary>NICs of their own on port groups (<c>--container-network</c>); only vSphere has port groups.</summary>
    public IReadOnlyList<PortGroupNic> PortGroups { get; init; } = [];
}

/// <summary>A NIC on a port group, with the MAC the guest finds it by (in VMware's manual range, 00:50:56:00-3f).</summary>
public sealed record PortGroupNic(string PortGroup, string Mac);

/// <summary>A host port forwarded to a guest port: <c>-p hostIp:hostPort:guestPort/protocol</c>.</summary>
public sealed record PortForward(string Protocol, string HostIp, int HostPort, int GuestPort);

public sealed record ContainerVm(
    string VmId,
    string Name,
    PowerState Power,
    VmResources Resources,
    ProvisioningPath Provisioning,
    IReadOnlyDictionary<string, string> ExtraConfig,
    PublicNic? Public = null);

/// <summary>
/// How the backend addresses a ContainerVM's public NIC (the way out, and in for published ports):
/// <c>address/prefix</c>, the default gateway and the nameservers reachable through it.
/// </summary>
public sealed record PublicNic(string Address, string Gateway, IReadOnlyList<string> Nameservers)
{
    /// <summary>
    /// The host's address as the guest reaches the host's own services: what
    /// <c>--add-host NAME:host-gateway</c> names. Null: the gateway is the host.
    /// </summary>
    public string? HostAddress { get; init; }

    /// <summary>The MAC the backend gave the NIC, for the guest to take; null: the guest keeps the NIC's.</summary>
    public string? Mac { get; init; }
}

/// <summary>A change seen on the hypervisor; <see cref="Gone"/> when the VM no longer exists.</summary>
public sealed record ContainerVmChange(string VmId, PowerState Power, int? ExitCode, bool Gone);

/// <summary>What the backend reports about itself for <c>docker info</c>.</summary>
public sealed record BackendDescription(
    string Name,
    VmResources PoolLimit,
    string ContainerVmKernel,
    IReadOnlyList<KeyValuePair<string, string>> Details);
