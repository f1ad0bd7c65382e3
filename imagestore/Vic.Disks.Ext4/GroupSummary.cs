using System.Buffers.Binary;

namespace Vic.Disks.Ext4;

/// <summary>What one group descriptor records about its group's usage.</summary>
internal readonly record struct GroupSummary(int FreeBlocks, int FreeInodes, int Directories)
{
    /// <summary>Encodes every group's 32-byte descriptor (no 64bit feature) into whole blocks.</summary>
    public static byte[] EncodeTable(Ext4Layout layout, IReadOnlyList<GroupSummary> groups)
    {
        var table = new byte[layout.DescriptorBlocks * Ext4Layout.BlockSize];
        for (var group = 0; group < groups.Count; group++)
        {
            var descriptor = table.AsSpan(group * Ext4Layout.DescriptorSize, Ext4Layout.DescriptorSize);
            BinaryPrimitives.WriteUInt32LittleEndian(descriptor, (uint)layout.BlockBitmap(group));
            BinaryPrimitives.WriteUInt32LittleEndian(descriptor[4..], (uint)layout.InodeBitmap(group));
            BinaryPrimitives.WriteUInt32LittleEndian(descriptor[8..], (uint)layout.InodeTable(group));
            BinaryPrimitives.WriteUInt16LittleEndian(descriptor[12..], (ushort)groups[group].FreeBlocks);
            BinaryPrimitives.WriteUInt16LittleEndian(descriptor[14..], (ushort)groups[group].FreeInodes);
            BinaryPrimitives.WriteUInt16LittleEndian(descriptor[16..], (ushort)groups[group].Directories);
        }

        return table;
    }
}
