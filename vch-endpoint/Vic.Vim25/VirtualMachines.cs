using System.Xml.Linq;
using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>Virtual machines: create, reconfigure, power, snapshot, clone (linked and instant).</summary>
public static class VirtualMachines
{
    /// <summary>Creates a VM in <paramref name="folder"/> running in <paramref name="pool"/>; returns it once made.</summary>
    public static async Task<ManagedObjectReference> CreateVmAsync(this VimSession session, ManagedObjectReference folder, ManagedObjectReference pool, VmConfigSpec spec, CancellationToken cancellationToken, ManagedObjectReference? host = null)
    {
        var result = await session.RunTaskAsync("CreateVM_Task", folder, [spec.ToXml("config"), Ref("pool", pool), host is null ? null : Ref("host", host)], cancellationToken).ConfigureAwait(false);
        return ToRef(result ?? throw new VimProtocolException("CreateVM_Task returned no VM"));
    }

    public static Task ReconfigureVmAsync(this VimSession session, ManagedObjectReference vm, VmConfigSpec spec, CancellationToken cancellationToken) =>
        session.RunTaskAsync("ReconfigVM_Task", vm, [spec.ToXml()], cancellationToken);

    public static Task PowerOnVmAsync(this VimSession session, ManagedObjectReference vm, CancellationToken cancellationToken) =>
        session.RunTaskAsync("PowerOnVM_Task", vm, [], cancellationToken);

    public static Task PowerOffVmAsync(this VimSession session, ManagedObjectReference vm, CancellationToken cancellationToken) =>
        session.RunTaskAsync("PowerOffVM_Task", vm, [], cancellationToken);

    /// <summary>Takes a snapshot (disks only, no memory); returns the snapshot.</summary>
    public static async Task<ManagedObjectReference> CreateSnapshotAsync(this VimSession session, ManagedObjectReference vm, string name, CancellationToken cancellationToken)
    {
        var result = await session.RunTaskAsync("CreateSnapshot_Task", vm, [E("name", name), E("memory", false), E("quiesce", false)], cancellationToken).ConfigureAwait(false);
        return ToRef(result ?? throw new VimProtocolException("CreateSnapshot_Task returned no snapshot"));
    }

    /// <summary>
    /// Clones <paramref name="vm"/>. With a <paramref name="snapshot"/> the clone's disks are children
    /// of the snapshot's (a linked clone: nothing copied); <paramref name="config"/> changes the clone.
    /// </summary>
    public static async Task<ManagedObjectReference> CloneVmAsync(this VimSession session, ManagedObjectReference vm, ManagedObjectReference folder, string name, ManagedObjectReference pool, CancellationToken cancellationToken, ManagedObjectReference? snapshot = null, VmConfigSpec? config = null, bool powerOn = false)
    {
        var spec = E(
            "spec",
            E("location", Ref("pool", pool), snapshot is null ? null : E("diskMoveType", "createNewChildDiskBacking")),
            E("template", false),
            config?.ToXml("config"),
            E("powerOn", powerOn),
            snapshot is null ? null : Ref("snapshot", snapshot));
        var result = await session.RunTaskAsync("CloneVM_Task", vm, [Ref("folder", folder), E("name", name), spec], cancellationToken).ConfigureAwait(false);
        return ToRef(result ?? throw new VimProtocolException("CloneVM_Task returned no VM"));
    }

    /// <summary>
    /// Instant-clones a running (frozen) <paramref name="vm"/> (vSphere 6.7 and later): the clone shares
    /// its parent's memory and disks and runs at once. <paramref name="extraConfig"/> reaches the guest.
    /// A server without it faults with MethodNotFound (or NotSupported).
    /// </summary>
    /// <param name="deviceChanges">Edits of the clone's NICs (their MACs, their port groups): the only devices an instant clone may change besides file-backed serial ports.</param>
    public static async Task<ManagedObjectReference> InstantCloneAsync(this VimSession session, ManagedObjectReference vm, string name, ManagedObjectReference pool, ManagedObjectReference folder, IReadOnlyList<KeyValuePair<string, string>> extraConfig, CancellationToken cancellationToken, IReadOnlyList<DeviceChange>? deviceChanges = null)
    {
        var spec = E(
            "spec",
            E("name", name),
            E("location", Ref("folder", folder), Ref("pool", pool), deviceChanges?.Select(d => d.ToXml())),
            extraConfig.Select(p => E("config", E("key", p.Key), Typed("value", "xsd:string", p.Value))));
        var result = await session.RunTaskAsync("InstantClone_Task", vm, [spec], cancellationToken).ConfigureAwait(false);
        return ToRef(result ?? throw new VimProtocolException("InstantClone_Task returned no VM"));
    }

    /// <summary>The VM's devices as the server has them.</summary>
    public static async Task<IReadOnlyList<DeviceInfo>> ReadDevicesAsync(this VimSession session, ManagedObjectReference vm, CancellationToken cancellationToken)
    {
        var content = await session.RetrieveOneAsync(vm, ["config.hardware.device"], cancellationToken).ConfigureAwait(false);
        return content.Properties.TryGetValue("config.hardware.device", out var devices) ? [.. devices.Elements().Select(DeviceInfo.Parse)] : [];
    }

    /// <summary>The VM's extraConfig as a dictionary (the last value of a key wins).</summary>
    public static IReadOnlyDictionary<string, string> ExtraConfigOf(XElement? optionValues)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var option in optionValues?.Elements() ?? [])
        {
            if (option.ChildText("key") is { } key)
            {
                values[key] = option.ChildText("value") ?? "";
            }
        }

        return values;
    }
}
