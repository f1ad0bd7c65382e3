namespace Vic.Disks.Ext4.Tree;

/// <summary>A regular file whose content is already in the image.</summary>
internal sealed class FileNode(Ext4Metadata metadata, long size, ExtentListBuilder content) : Node(metadata)
{
    public long Size { get; } = size;

    public ExtentListBuilder Content { get; } = content;

    public override ushort TypeBits => 0x8000;

    public override byte DirectoryEntryType => 1;
}
