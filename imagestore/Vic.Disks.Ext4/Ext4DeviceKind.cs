namespace Vic.Disks.Ext4;

/// <summary>The two kinds of device node; an overlayfs whiteout is a character device 0/0.</summary>
public enum Ext4DeviceKind
{
    Character,
    Block,
}
