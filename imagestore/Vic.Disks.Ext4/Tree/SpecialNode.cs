namespace Vic.Disks.Ext4.Tree;

/// <summary>The kinds of inode that have no content.</summary>
internal enum SpecialKind
{
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>A device node, fifo or socket: all it has is its type and, for devices, its numbers.</summary>
internal sealed class SpecialNode(Ext4Metadata metadata, SpecialKind kind, int major = 0, int minor = 0) : Node(metadata)
{
    public SpecialKind Kind { get; } = kind;

    public int Major { get; } = major;

    public int Minor { get; } = minor;

    public override ushort TypeBits => Kind switch
    {
        SpecialKind.CharacterDevice => 0x2000,
        SpecialKind.BlockDevice => 0x6000,
        SpecialKind.Fifo => 0x1000,
        _ => 0xC000,
    };

    public override byte DirectoryEntryType => Kind switch
    {
        SpecialKind.CharacterDevice => 3,
        SpecialKind.BlockDevice => 4,
        SpecialKind.Fifo => 5,
        _ => 6,
    };
}
