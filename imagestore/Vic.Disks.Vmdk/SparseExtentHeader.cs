using System.Buffers.Binary;

namespace Vic.Disks.Vmdk;

/// <summary>
/// The 512-byte <c>SparseExtentHeader</c> at sector 0 of a hosted sparse extent (and, for a
/// streamOptimized one, again in its footer). Offsets and sizes are in 512-byte sectors, and all
/// fields are little-endian and packed, as in VMware's "Virtual Disk Format 5.0".
/// </summary>
public sealed record SparseExtentHeader
{
    /// <summary>"KDMV" on disk, read as a little-endian 32-bit number.</summary>
    public const uint Magic = 0x564D444B;

    /// <summary>The <see cref="GrainDirectoryOffset"/> of a stream whose grain directory follows the grains.</summary>
    public const ulong GrainDirectoryAtEnd = ulong.MaxValue;

    public const ushort CompressionNone = 0;
    public const ushort CompressionDeflate = 1;
    public const int Size = 512;

    /// <summary>1 for plain sparse extents, 2 with zeroed-grain entries, 3 for streamOptimized.</summary>
    public uint Version { get; init; } = 1;

    public SparseExtentFlags Flags { get; init; }

    public ulong CapacitySectors { get; init; }

    public ulong GrainSectors { get; init; } = VmdkFormat.GrainSectors;

    public ulong DescriptorOffset { get; init; }

    public ulong DescriptorSectors { get; init; }

    public uint GrainTableEntries { get; init; } = VmdkFormat.GrainTableEntries;

    public ulong RedundantGrainDirectoryOffset { get; init; }

    public ulong GrainDirectoryOffset { get; init; }

    /// <summary>Sectors of metadata before the first grain (<c>overHead</c>).</summary>
    public ulong OverheadSectors { get; init; }

    public bool UncleanShutdown { get; init; }

    public ushort CompressAlgorithm { get; init; }

    public byte[] ToBytes()
    {
        var bytes = new byte[Size];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Writes the 512-byte sector (padding zeroed) to the start of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        var d = destination[..Size];
        d.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(d, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], (uint)Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(d[12..], CapacitySectors);
        BinaryPrimitives.WriteUInt64LittleEndian(d[20..], GrainSectors);
        BinaryPrimitives.WriteUInt64LittleEndian(d[28..], DescriptorOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(d[36..], DescriptorSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(d[44..], GrainTableEntries);
        BinaryPrimitives.WriteUInt64LittleEndian(d[48..], RedundantGrainDirectoryOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(d[56..], GrainDirectoryOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(d[64..], OverheadSectors);
        d[72] = UncleanShutdown ? (byte)1 : (byte)0;

        // The newline-detection bytes: a transfer that rewrites line endings changes them.
        "\n \r\n"u8.CopyTo(d[73..]);
        BinaryPrimitives.WriteUInt16LittleEndian(d[77..], CompressAlgorithm);
    }

    /// <summary>Parses a header sector; throws <see cref="InvalidDataException"/> if it is not one we can read.</summary>
    public static SparseExtentHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(source) != Magic)
        {
            throw new InvalidDataException("not a VMDK sparse extent (no KDMV magic)");
        }

        var header = new SparseExtentHeader
        {
            Version = BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
            Flags = (SparseExtentFlags)BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
            CapacitySectors = BinaryPrimitives.ReadUInt64LittleEndian(source[12..]),
            GrainSectors = BinaryPrimitives.ReadUInt64LittleEndian(source[20..]),
            DescriptorOffset = BinaryPrimitives.ReadUInt64LittleEndian(source[28..]),
            DescriptorSectors = BinaryPrimitives.ReadUInt64LittleEndian(source[36..]),
            GrainTableEntries = BinaryPrimitives.ReadUInt32LittleEndian(source[44..]),
            RedundantGrainDirectoryOffset = BinaryPrimitives.ReadUInt64LittleEndian(source[48..]),
            GrainDirectoryOffset = BinaryPrimitives.ReadUInt64LittleEndian(source[56..]),
            OverheadSectors = BinaryPrimitives.ReadUInt64LittleEndian(source[64..]),
            UncleanShutdown = source[72] != 0,
            CompressAlgorithm = BinaryPrimitives.ReadUInt16LittleEndian(source[77..]),
        };
        if (header.Version is < 1 or > 3)
        {
            throw new InvalidDataException($"unsupported VMDK sparse extent version {header.Version}");
        }

        if (header.Flags.HasFlag(SparseExtentFlags.ValidNewlineDetection) && !source[73..77].SequenceEqual("\n \r\n"u8))
        {
            throw new InvalidDataException("the VMDK header's newline-detection bytes are damaged (was it transferred in text mode?)");
        }

        return header;
    }
}
