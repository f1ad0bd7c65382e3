using System.Buffers.Binary;
using System.Text;

namespace Vic.Disks.Ext4;

/// <summary>One name in a directory.</summary>
internal readonly record struct DirectoryEntry(uint Inode, byte FileType, string Name);

/// <summary>
/// Encodes a linear (non-htree) directory: entries packed into 4 KiB blocks, never crossing a block,
/// the last entry of each block stretched to its end. "." and ".." come first, as e2fsck requires.
/// </summary>
internal static class DirectoryBlocks
{
    private const int HeaderSize = 8;

    public static byte[] Encode(uint self, uint parent, IEnumerable<DirectoryEntry> entries)
    {
        using var blocks = new MemoryStream();
        var block = new byte[Ext4Layout.BlockSize];
        var used = 0;
        var last = -1;
        foreach (var entry in entries.Prepend(new DirectoryEntry(parent, 2, "..")).Prepend(new DirectoryEntry(self, 2, ".")))
        {
            var name = Encoding.UTF8.GetBytes(entry.Name);
            var size = RecordLength(name.Length);
            if (used + size > block.Length)
            {
                Stretch(block, last);
                blocks.Write(block);
                Array.Clear(block);
                used = 0;
            }

            var record = block.AsSpan(used, size);
            BinaryPrimitives.WriteUInt32LittleEndian(record, entry.Inode);
            BinaryPrimitives.WriteUInt16LittleEndian(record[4..], (ushort)size);
            record[6] = (byte)name.Length;
            record[7] = entry.FileType;
            name.CopyTo(record[HeaderSize..]);
            last = used;
            used += size;
        }

        Stretch(block, last);
        blocks.Write(block);
        return blocks.ToArray();
    }

    public static int RecordLength(int nameLength) => (HeaderSize + nameLength + 3) & ~3;

    private static void Stretch(byte[] block, int last) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(last + 4), (ushort)(block.Length - last));
}
