using System.Buffers.Binary;

namespace Vic.Disks.Ext4;

/// <summary>The rotate-and-xor hashes ext4 keeps per xattr entry and per xattr block (checked by e2fsck).</summary>
internal static class XattrHash
{
    public static uint Entry(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        uint hash = 0;
        foreach (var b in name)
        {
            hash = (hash << 5) ^ (hash >> 27) ^ b;
        }

        // Over the value zero-padded to whole little-endian 32-bit words.
        Span<byte> word = stackalloc byte[4];
        for (var offset = 0; offset < value.Length; offset += 4)
        {
            word.Clear();
            value[offset..Math.Min(offset + 4, value.Length)].CopyTo(word);
            hash = (hash << 16) ^ (hash >> 16) ^ BinaryPrimitives.ReadUInt32LittleEndian(word);
        }

        return hash;
    }

    public static uint Block(IEnumerable<uint> entryHashes)
    {
        uint hash = 0;
        foreach (var entry in entryHashes)
        {
            if (entry == 0)
            {
                return 0;
            }

            hash = (hash << 16) ^ (hash >> 16) ^ entry;
        }

        return hash;
    }
}
