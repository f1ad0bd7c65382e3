using System.Buffers.Binary;

namespace Vic.Disks.Ext4;

/// <summary>
/// Converts a POSIX ACL from the xattr system-call layout (version 2, 8-byte entries) to ext4's on-disk
/// layout (version 1, 4-byte entries for the owner/group/mask/other tags that carry no id). Stored
/// unconverted, the kernel would reject the ACL.
/// </summary>
internal static class PosixAcl
{
    private const uint XattrVersion = 2;
    private const uint DiskVersion = 1;
    private const ushort UserObj = 0x01;
    private const ushort User = 0x02;
    private const ushort GroupObj = 0x04;
    private const ushort Group = 0x08;
    private const ushort Mask = 0x10;
    private const ushort Other = 0x20;

    public static byte[] ToDisk(byte[] value)
    {
        if (value.Length < 4 || (value.Length - 4) % 8 != 0 || BinaryPrimitives.ReadUInt32LittleEndian(value) != XattrVersion)
        {
            throw new ArgumentException("a POSIX ACL xattr must be version 2 followed by 8-byte entries", nameof(value));
        }

        using var disk = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, DiskVersion);
        disk.Write(word);
        for (var offset = 4; offset < value.Length; offset += 8)
        {
            var tag = BinaryPrimitives.ReadUInt16LittleEndian(value.AsSpan(offset));
            disk.Write(value.AsSpan(offset, 4));
            switch (tag)
            {
                case User or Group:
                    disk.Write(value.AsSpan(offset + 4, 4));
                    break;
                case UserObj or GroupObj or Mask or Other:
                    break;
                default:
                    throw new ArgumentException($"unknown POSIX ACL tag 0x{tag:x}", nameof(value));
            }
        }

        return disk.ToArray();
    }
}
