namespace Vic.Disks.Vmdk;

/// <summary>
/// The <c>ddb.adapterType</c> of the descriptor. It only hints at the controller and the disk
/// geometry; ESXi and QEMU attach the disk to whatever controller the VM has.
/// </summary>
public enum VmdkAdapterType
{
    /// <summary>SCSI (also what VMware writes for PVSCSI disks); geometry 255 heads, 63 sectors.</summary>
    LsiLogic,

    /// <summary>SCSI BusLogic; geometry 255 heads, 63 sectors.</summary>
    BusLogic,

    /// <summary>IDE; geometry 16 heads, 63 sectors (QEMU's default).</summary>
    Ide,
}
