using System.Xml.Linq;
using static Vic.Vim25.Soap.VimXml;

namespace Vic.Vim25;

/// <summary>
/// The part of a <c>VirtualMachineConfigSpec</c> a VCH uses, written in the WSDL's element order
/// (vCenter validates it; the simulator does not).
/// </summary>
/// <param name="VmPathName">Where the VM's files go: <c>[datastore] folder</c>.</param>
public sealed record VmConfigSpec
{
    public string? Name { get; init; }

    public string? GuestId { get; init; }

    public string? Annotation { get; init; }

    public string? VmPathName { get; init; }

    public int? Cpus { get; init; }

    public long? MemoryMb { get; init; }

    public IReadOnlyList<DeviceChange> Devices { get; init; } = [];

    /// <summary>Keys and values in the VM's .vmx; an empty value removes a key on reconfigure.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ExtraConfig { get; init; } = [];

    public XElement ToXml(string element = "spec") => E(
        element,
        Opt("name", Name),
        Opt("guestId", GuestId),
        Opt("annotation", Annotation),
        VmPathName is null ? null : E("files", E("vmPathName", VmPathName)),
        Opt("numCPUs", Cpus),
        Opt("memoryMB", MemoryMb),
        Devices.Select(d => d.ToXml()),
        ExtraConfig.Select(p => E("extraConfig", E("key", p.Key), Typed("value", "xsd:string", p.Value))));
}

/// <summary>One device added, removed or changed: <c>VirtualDeviceConfigSpec</c>.</summary>
/// <param name="FileOperation"><c>create</c> makes a disk's file, <c>destroy</c> deletes it; null touches no file.</param>
public sealed record DeviceChange(string Operation, VirtualDevice Device, string? FileOperation = null)
{
    public static DeviceChange Add(VirtualDevice device, string? fileOperation = null) => new("add", device, fileOperation);

    public static DeviceChange Remove(VirtualDevice device, string? fileOperation = null) => new("remove", device, fileOperation);

    public static DeviceChange Edit(VirtualDevice device) => new("edit", device);

    public XElement ToXml() => E("deviceChange", E("operation", Operation), Opt("fileOperation", FileOperation), Device.ToXml("device"));
}

/// <summary>A VM device. Keys below zero are temporary: the server assigns real ones on add.</summary>
public abstract record VirtualDevice(int Key)
{
    public abstract XElement ToXml(string element);

    /// <summary>The common head of every device: key, backing, connectable, controller and unit.</summary>
    protected XElement Device(string element, string type, XElement? backing, bool connectable, int? controllerKey, int? unitNumber, params object?[] rest) =>
        Typed(
            element,
            type,
            E("key", Key),
            backing,
            connectable ? E("connectable", E("startConnected", true), E("allowGuestControl", false), E("connected", true)) : null,
            Opt("controllerKey", controllerKey),
            Opt("unitNumber", unitNumber),
            rest);
}

/// <summary>A CD-ROM drive with an ISO on a datastore (the bootstrap ISO); 200 is the first IDE controller.</summary>
public sealed record CdromIso(int Key, string IsoPath, int ControllerKey = 200, int UnitNumber = 0) : VirtualDevice(Key)
{
    public override XElement ToXml(string element) =>
        Device(element, "VirtualCdrom", Typed("backing", "VirtualCdromIsoBackingInfo", E("fileName", IsoPath)), true, ControllerKey, UnitNumber);
}

/// <summary>A paravirtual SCSI controller, which the ContainerVM kernel drives (vmw_pvscsi).</summary>
public sealed record ParaVirtualScsiController(int Key, int BusNumber = 0) : VirtualDevice(Key)
{
    public override XElement ToXml(string element) =>
        Device(element, "ParaVirtualSCSIController", null, false, null, null, E("busNumber", BusNumber), E("hotAddRemove", true), E("sharedBus", "noSharing"));
}

/// <summary>
/// A disk backed by a VMDK on a datastore. <paramref name="DiskMode"/> <c>persistent</c> keeps writes;
/// a layer disk shared by many VMs is attached <c>independent_nonpersistent</c> or as a linked child.
/// </summary>
public sealed record VirtualDiskDevice(int Key, string FilePath, int ControllerKey, int UnitNumber, long CapacityKb, string DiskMode = "persistent", string? ParentPath = null, bool Thin = true) : VirtualDevice(Key)
{
    public override XElement ToXml(string element) => Device(
        element,
        "VirtualDisk",
        Typed(
            "backing",
            "VirtualDiskFlatVer2BackingInfo",
            E("fileName", FilePath),
            E("diskMode", DiskMode),
            E("thinProvisioned", Thin),
            ParentPath is null ? null : Typed("parent", "VirtualDiskFlatVer2BackingInfo", E("fileName", ParentPath), E("diskMode", "persistent"))),
        false,
        ControllerKey,
        UnitNumber,
        E("capacityInKB", CapacityKb));
}

/// <summary>
/// A serial port backed by a network URI (<c>tcp://endpoint:port</c>): the ContainerVM's channel to
/// the endpoint. As a client the VM connects out, so the endpoint needs no route to the VM.
/// </summary>
/// <param name="ProxyUri">A virtual serial port concentrator (<c>telnet://host:port</c>) the VMX connects to instead, naming <paramref name="ServiceUri"/> to it.</param>
public sealed record NetworkSerialPort(int Key, string ServiceUri, bool Client = true, string? ProxyUri = null) : VirtualDevice(Key)
{
    public override XElement ToXml(string element) => Device(
        element,
        "VirtualSerialPort",
        Typed("backing", "VirtualSerialPortURIBackingInfo", E("serviceURI", ServiceUri), E("direction", Client ? "client" : "server"), Opt("proxyURI", ProxyUri)),
        true,
        null,
        null,
        E("yieldOnPoll", true));
}

/// <summary>A vmxnet3 NIC on a standard port group (<paramref name="NetworkName"/>).</summary>
public sealed record Vmxnet3Nic(int Key, string NetworkName, string? MacAddress = null) : VirtualDevice(Key)
{
    public override XElement ToXml(string element) => Device(
        element,
        "VirtualVmxnet3",
        Typed("backing", "VirtualEthernetCardNetworkBackingInfo", E("deviceName", NetworkName)),
        true,
        null,
        null,
        E("addressType", MacAddress is null ? "generated" : "manual"),
        Opt("macAddress", MacAddress));
}

/// <summary>A device as the server describes it in <c>config.hardware.device</c>.</summary>
public sealed record DeviceInfo(int Key, string Type, string? BackingType, string? FileName, string? ServiceUri, int? ControllerKey, int? UnitNumber, XElement Xml)
{
    /// <summary>A network-backed serial port's vSPC proxy, when it has one.</summary>
    public string? ProxyUri => Xml.Child("backing")?.ChildText("proxyURI");

    public static DeviceInfo Parse(XElement device)
    {
        var backing = device.Child("backing");
        return new DeviceInfo(
            int.Parse(device.ChildText("key") ?? "0", System.Globalization.CultureInfo.InvariantCulture),
            TypeOf(device) ?? device.Name.LocalName,
            backing is null ? null : TypeOf(backing),
            backing?.ChildText("fileName"),
            backing?.ChildText("serviceURI"),
            device.ChildText("controllerKey") is { } c ? int.Parse(c, System.Globalization.CultureInfo.InvariantCulture) : null,
            device.ChildText("unitNumber") is { } u ? int.Parse(u, System.Globalization.CultureInfo.InvariantCulture) : null,
            device);
    }
}
