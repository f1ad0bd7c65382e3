using System.Buffers.Binary;

namespace Vic.Disks.Ext4;

/// <summary>
/// Lays out extended attributes: first try the space after the inode's extra fields (96 bytes in a
/// 256-byte inode), otherwise one xattr block of their own (refcount 1, never shared).
/// </summary>
internal static class XattrEncoder
{
    public const uint Magic = 0xEA020000;
    public const int InodeSpace = Ext4Layout.InodeSize - 128 - Inode.ExtraSize;
    private const int BlockHeaderSize = 32;
    private const int EntryHeaderSize = 16;

    public static List<XattrEntry> Parse(IReadOnlyDictionary<string, byte[]>? xattrs)
    {
        var entries = new List<XattrEntry>();
        foreach (var (name, value) in xattrs ?? new Dictionary<string, byte[]>())
        {
            entries.Add(XattrEntry.Create(name, value));
        }

        entries.Sort(XattrEntry.Compare);
        if (!Fits(entries, Ext4Layout.BlockSize - BlockHeaderSize))
        {
            throw new ArgumentException("extended attributes do not fit in one 4 KiB block", nameof(xattrs));
        }

        return entries;
    }

    /// <summary>The in-inode area (magic, entries, values) or null when they do not fit there.</summary>
    public static byte[]? TryEncodeInInode(IReadOnlyList<XattrEntry> entries)
    {
        const int magicSize = 4;
        if (!Fits(entries, InodeSpace - magicSize))
        {
            return null;
        }

        var area = new byte[InodeSpace];
        BinaryPrimitives.WriteUInt32LittleEndian(area, Magic);

        // Value offsets count from the first entry, just after the magic.
        WriteEntries(area.AsSpan(magicSize), entries);
        return area;
    }

    public static byte[] EncodeBlock(IReadOnlyList<XattrEntry> entries)
    {
        var block = new byte[Ext4Layout.BlockSize];
        BinaryPrimitives.WriteUInt32LittleEndian(block, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), 1); // refcount
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(8), 1); // blocks

        // In a block, value offsets count from the start of the block.
        var hashes = WriteEntries(block, entries, BlockHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(12), XattrHash.Block(hashes));
        return block;
    }

    private static bool Fits(IReadOnlyList<XattrEntry> entries, int space)
    {
        var needed = 4; // the zero word that ends the entry list
        foreach (var entry in entries)
        {
            needed += EntrySize(entry) + Pad(entry.Value.Length);
        }

        return needed <= space;
    }

    private static List<uint> WriteEntries(Span<byte> region, IReadOnlyList<XattrEntry> entries, int firstEntry = 0)
    {
        var hashes = new List<uint>();
        var entryOffset = firstEntry;
        var valueEnd = region.Length;
        foreach (var entry in entries)
        {
            var valueOffset = 0;
            if (entry.Value.Length > 0)
            {
                valueEnd -= Pad(entry.Value.Length);
                valueOffset = valueEnd;
                entry.Value.CopyTo(region[valueEnd..]);
            }

            var hash = XattrHash.Entry(entry.Name, entry.Value);
            hashes.Add(hash);
            var header = region.Slice(entryOffset, EntrySize(entry));
            header[0] = (byte)entry.Name.Length;
            header[1] = entry.Index;
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)valueOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)entry.Value.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], hash);
            entry.Name.CopyTo(header[EntryHeaderSize..]);
            entryOffset += header.Length;
        }

        return hashes;
    }

    private static int EntrySize(XattrEntry entry) => Pad(EntryHeaderSize + entry.Name.Length);

    private static int Pad(int length) => (length + 3) & ~3;
}
