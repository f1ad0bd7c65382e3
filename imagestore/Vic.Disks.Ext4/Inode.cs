using System.Buffers.Binary;

namespace Vic.Disks.Ext4;

/// <summary>The fields of one 256-byte inode and their encoding.</summary>
internal sealed class Inode
{
    /// <summary>i_extra_isize: the large-inode fields through i_projid (nanoseconds, crtime).</summary>
    public const int ExtraSize = 32;
    public const uint ExtentsFlag = 0x80000;
    public const int BlockFieldSize = 60;

    public ushort Mode { get; init; }

    public uint Uid { get; init; }

    public uint Gid { get; init; }

    public ulong Size { get; set; }

    public ushort Links { get; init; }

    /// <summary>Every block the inode owns (data, tree, xattr) in 4 KiB blocks; stored in 512-byte units.</summary>
    public long Blocks { get; set; }

    public uint Flags { get; set; }

    public byte[] Block { get; } = new byte[BlockFieldSize];

    public long XattrBlock { get; set; }

    public byte[]? InlineXattrs { get; set; }

    public DateTimeOffset ModifiedAt { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public void Encode(Span<byte> inode)
    {
        inode[..Ext4Layout.InodeSize].Clear();
        var sectors = (ulong)Blocks * (Ext4Layout.BlockSize / 512);
        var (seconds, extra) = Ext4Time.Encode(ModifiedAt);
        var (created, createdExtra) = Ext4Time.Encode(CreatedAt);
        BinaryPrimitives.WriteUInt16LittleEndian(inode, Mode);
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x02..], (ushort)Uid);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x04..], (uint)Size);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x08..], seconds); // atime
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x0C..], seconds); // ctime
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x10..], seconds); // mtime
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x18..], (ushort)Gid);
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x1A..], Links);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x1C..], (uint)sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x20..], Flags);
        Block.CopyTo(inode[0x28..]);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x68..], (uint)XattrBlock);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x6C..], (uint)(Size >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x74..], (ushort)(sectors >> 32)); // huge_file
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x76..], (ushort)(XattrBlock >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x78..], (ushort)(Uid >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x7A..], (ushort)(Gid >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(inode[0x80..], ExtraSize);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x84..], extra); // ctime
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x88..], extra); // mtime
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x8C..], extra); // atime
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x90..], created);
        BinaryPrimitives.WriteUInt32LittleEndian(inode[0x94..], createdExtra);
        InlineXattrs?.CopyTo(inode[(128 + ExtraSize)..]);
    }
}
