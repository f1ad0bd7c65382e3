using System.Text.Json;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Vsphere;

/// <summary>
/// What the backend keeps in each ContainerVM's extraConfig, so that the inventory alone tells a
/// restarted endpoint everything: whose VM it is, its id, its disks and its channel port.
/// </summary>
internal static class VmExtraConfig
{
    public const string Vch = "vic.vch";
    public const string VmId = "vic.vm.id";
    public const string Disks = "vic.vm.disks";
    public const string ChannelPort = "vic.vm.channel";
    public const string Provisioning = "vic.vm.provisioning";
    public const string PublicAddress = "vic.vm.public";

    /// <summary>Marks the VCH's parent; an instant clone inherits its parent's extraConfig, this among it.</summary>
    public const string ParentOf = "vic.parent";

    /// <summary>Set once the parent's tether said Hello: it can be forked.</summary>
    public const string ParentReady = "vic.parent.ready";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string WriteDisks(IReadOnlyList<VmDisk> disks) => JsonSerializer.Serialize(disks, Json);

    public static IReadOnlyList<VmDisk> ReadDisks(IReadOnlyDictionary<string, string> extraConfig) =>
        extraConfig.TryGetValue(Disks, out var text) && text.Length > 0 ? JsonSerializer.Deserialize<List<VmDisk>>(text, Json) ?? [] : [];

    /// <summary>The keys the port layer gave, without the backend's own.</summary>
    public static Dictionary<string, string> Callers(IReadOnlyDictionary<string, string> extraConfig) =>
        extraConfig.Where(p => p.Key is not (Vch or VmId or Disks or ChannelPort or Provisioning or PublicAddress or ParentOf or ParentReady) && p.Key != "disk.EnableUUID").ToDictionary(p => p.Key, p => p.Value);
}

/// <summary>A disk of a ContainerVM: the port layer's attachment and where it lives on the datastore.</summary>
internal sealed record VmDisk(string Id, string LocalPath, DiskRole Role, bool ReadOnly, string DatastorePath)
{
    public DiskAttachment Attachment => new(Id, LocalPath, Role, ReadOnly);

    /// <summary>Image layers are shared by many VMs: attached non-persistent, each VM's writes go to a redo log it drops.</summary>
    public string DiskMode => Role == DiskRole.ImageLayer ? "independent_nonpersistent" : "persistent";
}
