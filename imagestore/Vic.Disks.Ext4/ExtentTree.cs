using System.Buffers.Binary;

namespace Vic.Disks.Ext4;

/// <summary>Writes one metadata block somewhere and says where.</summary>
internal delegate long BlockSink(ReadOnlySpan<byte> block);

/// <summary>
/// Encodes an inode's extent tree: up to 4 extents sit in i_block itself; more go to leaf blocks of
/// 340 extents, indexed from i_block (and from index blocks when there are more than 4 leaves). Nodes are
/// packed full so e2fsck finds the tree neither too deep nor too wide.
/// </summary>
internal static class ExtentTree
{
    public const int InodeEntries = 4;
    public const int BlockEntries = (Ext4Layout.BlockSize - HeaderSize) / EntrySize;
    public const ushort Magic = 0xF30A;
    private const int HeaderSize = 12;
    private const int EntrySize = 12;

    /// <summary>Fills the 60-byte <paramref name="iBlock"/> and returns how many tree blocks it wrote.</summary>
    public static int Build(IReadOnlyList<Extent> extents, Span<byte> iBlock, BlockSink sink)
    {
        if (extents.Count <= InodeEntries)
        {
            WriteLeaf(iBlock, extents, 0, extents.Count, InodeEntries);
            return 0;
        }

        var written = 0;
        var block = new byte[Ext4Layout.BlockSize];
        var level = new List<(uint First, long Block)>();
        for (var i = 0; i < extents.Count; i += BlockEntries)
        {
            block.AsSpan().Clear();
            var count = Math.Min(BlockEntries, extents.Count - i);
            WriteLeaf(block, extents, i, count, BlockEntries);
            level.Add((extents[i].Logical, sink(block)));
            written++;
        }

        ushort depth = 1;
        while (level.Count > InodeEntries)
        {
            var parents = new List<(uint First, long Block)>();
            for (var i = 0; i < level.Count; i += BlockEntries)
            {
                block.AsSpan().Clear();
                var count = Math.Min(BlockEntries, level.Count - i);
                WriteIndex(block, level, i, count, BlockEntries, depth);
                parents.Add((level[i].First, sink(block)));
                written++;
            }

            level = parents;
            depth++;
        }

        WriteIndex(iBlock, level, 0, level.Count, InodeEntries, depth);
        return written;
    }

    private static void WriteHeader(Span<byte> node, int entries, int max, ushort depth)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(node, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(node[2..], (ushort)entries);
        BinaryPrimitives.WriteUInt16LittleEndian(node[4..], (ushort)max);
        BinaryPrimitives.WriteUInt16LittleEndian(node[6..], depth);
    }

    private static void WriteLeaf(Span<byte> node, IReadOnlyList<Extent> extents, int first, int count, int max)
    {
        WriteHeader(node, count, max, 0);
        for (var i = 0; i < count; i++)
        {
            var extent = extents[first + i];
            var entry = node.Slice(HeaderSize + (i * EntrySize), EntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(entry, extent.Logical);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[4..], (ushort)extent.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[6..], (ushort)(extent.Physical >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], (uint)extent.Physical);
        }
    }

    private static void WriteIndex(Span<byte> node, List<(uint First, long Block)> children, int first, int count, int max, ushort depth)
    {
        WriteHeader(node, count, max, depth);
        for (var i = 0; i < count; i++)
        {
            var (logical, child) = children[first + i];
            var entry = node.Slice(HeaderSize + (i * EntrySize), EntrySize);
            BinaryPrimitives.WriteUInt32LittleEndian(entry, logical);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], (uint)child);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[8..], (ushort)(child >> 32));
        }
    }
}
