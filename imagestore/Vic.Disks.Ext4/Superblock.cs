using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Vic.Disks.Ext4;

/// <summary>
/// The 1024-byte superblock. Features: ext_attr; filetype, extents; sparse_super, large_file,
/// huge_file, dir_nlink, extra_isize. No journal (layers are mounted read-only), no checksums, no
/// flex_bg or resize inode: the smallest set the kernel and e2fsck need for what layers contain.
/// </summary>
internal static class Superblock
{
    public const int Size = 1024;
    public const ushort Magic = 0xEF53;
    public const uint CompatExtAttr = 0x8;
    public const uint IncompatFiletype = 0x2;
    public const uint IncompatExtents = 0x40;
    public const uint RoCompatSparseSuper = 0x1;
    public const uint RoCompatLargeFile = 0x2;
    public const uint RoCompatHugeFile = 0x8;
    public const uint RoCompatDirNlink = 0x20;
    public const uint RoCompatExtraIsize = 0x40;

    public static byte[] Encode(Ext4Layout layout, SuperblockCounts counts, Guid uuid, string label, DateTimeOffset createdAt, int group)
    {
        var sb = new byte[Size];
        var span = sb.AsSpan();
        var now = Ext4Time.Seconds(createdAt);
        var log = (uint)BitOperations.Log2(Ext4Layout.BlockSize / 1024);
        Put32(span, 0x00, layout.InodeCount);
        Put32(span, 0x04, (uint)layout.BlockCount);
        Put32(span, 0x0C, (uint)counts.FreeBlocks);
        Put32(span, 0x10, counts.FreeInodes);
        Put32(span, 0x14, 0); // first data block: 0 with blocks above 1 KiB
        Put32(span, 0x18, log);
        Put32(span, 0x1C, log); // cluster size = block size
        Put32(span, 0x20, Ext4Layout.BlocksPerGroup);
        Put32(span, 0x24, Ext4Layout.BlocksPerGroup);
        Put32(span, 0x28, (uint)layout.InodesPerGroup);
        Put32(span, 0x30, now); // last write
        Put16(span, 0x36, 0xFFFF); // max mount count: never force a check
        Put16(span, 0x38, Magic);
        Put16(span, 0x3A, 1); // state: clean
        Put16(span, 0x3C, 1); // errors: continue
        Put32(span, 0x40, now); // last check
        Put32(span, 0x4C, 1); // dynamic revision
        Put32(span, 0x54, Ext4Layout.FirstInode);
        Put16(span, 0x58, Ext4Layout.InodeSize);
        Put16(span, 0x5A, (ushort)group);
        Put32(span, 0x5C, CompatExtAttr);
        Put32(span, 0x60, IncompatFiletype | IncompatExtents);
        Put32(span, 0x64, RoCompatSparseSuper | RoCompatLargeFile | RoCompatHugeFile | RoCompatDirNlink | RoCompatExtraIsize);
        uuid.ToByteArray(bigEndian: true).CopyTo(span[0x68..]);
        Encoding.UTF8.GetBytes(label).CopyTo(span[0x78..]);

        // Hash seed and half_md4 for htree, should the kernel ever index a directory of this image.
        SHA256.HashData(uuid.ToByteArray(bigEndian: true)).AsSpan(0, 16).CopyTo(span[0xEC..]);
        span[0xFC] = 1;
        Put32(span, 0x100, 0x000C); // default mount options: user_xattr, acl
        Put32(span, 0x108, now); // mkfs time
        Put16(span, 0x15C, Inode.ExtraSize); // min extra isize
        Put16(span, 0x15E, Inode.ExtraSize); // want extra isize
        Put32(span, 0x160, 1); // signed directory hash, as mke2fs on x86
        return sb;
    }

    private static void Put16(Span<byte> span, int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], value);

    private static void Put32(Span<byte> span, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], value);
}

/// <summary>The totals the superblock repeats from the group descriptors.</summary>
internal readonly record struct SuperblockCounts(long FreeBlocks, uint FreeInodes);
