using Vic.PortLayer.Volumes;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Vch;

namespace Vic.Endpoint.Configuration;

public enum TlsMode
{
    /// <summary>Plain HTTP; allowed only on loopback and unix sockets unless the operator forces it.</summary>
    None,

    /// <summary>Server certificate only: clients verify us, we do not verify them.</summary>
    Tls,

    /// <summary>Mutual TLS: a client must present a certificate signed by our CA.</summary>
    TlsVerify,
}

/// <summary>The TLS files, already known to exist.</summary>
public sealed record TlsFiles(string Certificate, string Key, string? CertificateAuthority);

/// <summary>The local QEMU backend's files and mode, when that backend is chosen.</summary>
public sealed record QemuSettings(string Kernel, string Initramfs, bool InstantClone, Vic.Backends.Qemu.CloneMemory CloneMemory = Vic.Backends.Qemu.CloneMemory.CopyOnWrite, int? TcgCacheMiB = null, int? ReadyClones = null);

/// <summary>The vSphere backend's target and placement, when that backend is chosen.</summary>
public sealed record VsphereSettings(Vic.Vim25.VimSessionConfig Session, string Datacenter, string ComputeResource, string Datastore, System.Net.IPAddress ChannelAddress, string? BridgeNetwork = null, string? PublicNetwork = null, Vic.Backends.Vsphere.PublicAddressing? PublicAddressing = null)
{
    /// <summary><c>--channel-listen</c>: the address the channel ports are bound to, when ContainerVMs reach them through another (the appliance behind NAT); default: the channel address.</summary>
    public System.Net.IPAddress? ChannelListen { get; init; }
}

/// <summary>vicadmin, when asked for: its own TLS port and, on the local backend, the file of admin passwords.</summary>
public sealed record VicadminSettings(System.Net.IPEndPoint Listen, string? PasswordFile);

/// <summary>The endpoint's validated settings: where it listens, how it secures that, the VCH it serves and its backend.</summary>
public sealed record EndpointConfig(IReadOnlyList<ListenAddress> Listen, TlsMode Tls, TlsFiles? TlsFiles, VchConfig Vch, QemuSettings? Qemu = null, VsphereSettings? Vsphere = null)
{
    public VicadminSettings? Vicadmin { get; init; }

    /// <summary>Where the endpoint's own log goes as well (<c>--syslog-address</c>); null: the console (and vicadmin) only.</summary>
    public Vic.PortLayer.Containers.SyslogTarget? Syslog { get; init; }

    /// <summary>Who may do what on the Docker API (<c>--authz-policy</c>); null: whoever the listeners admit may do all.</summary>
    public Vic.Api.Authorization.AuthorizationPolicy? Authorization { get; init; }
}
