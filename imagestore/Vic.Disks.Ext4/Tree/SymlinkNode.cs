namespace Vic.Disks.Ext4.Tree;

/// <summary>A symbolic link; its target is written at completion.</summary>
internal sealed class SymlinkNode(Ext4Metadata metadata, byte[] target) : Node(metadata)
{
    public byte[] Target { get; } = target;

    public override ushort TypeBits => 0xA000;

    public override byte DirectoryEntryType => 7;
}
