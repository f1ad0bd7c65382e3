using System.Numerics;
using System.Runtime.InteropServices;

namespace Vic.Disks.Ext4;

/// <summary>
/// Builds each group's block and inode bitmap from what the allocator and the inode numbering know,
/// so no bitmap of the whole image is kept in memory while data streams in.
/// </summary>
internal static class Bitmaps
{
    /// <summary>Used: the group's own metadata, data handed out so far, minus blocks given back.
    /// Bits past the end of a short last group are set, as e2fsck expects.</summary>
    public static byte[] Blocks(Ext4Layout layout, BlockAllocator allocator, int group, out int free)
    {
        var bitmap = new byte[Ext4Layout.BlockSize];
        var start = layout.GroupStart(group);
        var size = layout.GroupSize(group);
        var dataStart = layout.DataStart(group);
        SetRange(bitmap, 0, (int)(dataStart - start), true);
        var dataEnd = Math.Min(allocator.Next, start + size);
        if (dataEnd > dataStart)
        {
            SetRange(bitmap, (int)(dataStart - start), (int)(dataEnd - start), true);
        }

        foreach (var extent in allocator.Freed)
        {
            var from = Math.Max(extent.Physical, start);
            var to = Math.Min(extent.Physical + extent.Length, start + size);
            if (from < to)
            {
                SetRange(bitmap, (int)(from - start), (int)(to - start), false);
            }
        }

        free = size - CountSet(bitmap);
        SetRange(bitmap, size, Ext4Layout.BlocksPerGroup, true);
        return bitmap;
    }

    /// <summary>Inodes 1..<paramref name="lastUsed"/> are in use (numbering is dense); the bits past
    /// the group's inodes are set, as mke2fs does.</summary>
    public static byte[] Inodes(Ext4Layout layout, uint lastUsed, int group, out int free)
    {
        var bitmap = new byte[Ext4Layout.BlockSize];
        var first = (long)group * layout.InodesPerGroup;
        var used = (int)Math.Clamp(lastUsed - first, 0, layout.InodesPerGroup);
        SetRange(bitmap, 0, used, true);
        SetRange(bitmap, layout.InodesPerGroup, Ext4Layout.BlockSize * 8, true);
        free = layout.InodesPerGroup - used;
        return bitmap;
    }

    internal static void SetRange(byte[] bitmap, int from, int to, bool value)
    {
        // Single bits up to a byte boundary, whole bytes, then the remaining bits.
        while (from < to && (from & 7) != 0)
        {
            SetBit(bitmap, from++, value);
        }

        var wholeBytes = (to - from) >> 3;
        bitmap.AsSpan(from >> 3, wholeBytes).Fill(value ? (byte)0xFF : (byte)0);
        from += wholeBytes << 3;
        while (from < to)
        {
            SetBit(bitmap, from++, value);
        }
    }

    private static void SetBit(byte[] bitmap, int bit, bool value)
    {
        if (value)
        {
            bitmap[bit >> 3] |= (byte)(1 << (bit & 7));
        }
        else
        {
            bitmap[bit >> 3] &= (byte)~(1 << (bit & 7));
        }
    }

    private static int CountSet(byte[] bitmap)
    {
        var count = 0;
        foreach (var word in MemoryMarshal.Cast<byte, ulong>(bitmap))
        {
            count += BitOperations.PopCount(word);
        }

        return count;
    }
}
