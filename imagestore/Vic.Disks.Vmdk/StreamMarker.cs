using System.Buffers.Binary;

namespace Vic.Disks.Vmdk;

/// <summary>
/// A metadata marker of a streamOptimized VMDK: one sector holding the number of sectors of
/// metadata that follow (<c>val</c>), <c>size</c> 0 (non-zero would make it a grain marker) and
/// the type of the metadata. The end-of-stream marker is an all-zero sector.
/// </summary>
internal readonly record struct StreamMarker(ulong Value, uint Size, uint Type)
{
    public const uint EndOfStream = 0;
    public const uint GrainTable = 1;
    public const uint GrainDirectory = 2;
    public const uint Footer = 3;

    public static StreamMarker Read(ReadOnlySpan<byte> sector) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(sector),
        BinaryPrimitives.ReadUInt32LittleEndian(sector[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(sector[12..]));

    public byte[] ToSector()
    {
        var sector = new byte[VmdkFormat.SectorSize];
        BinaryPrimitives.WriteUInt64LittleEndian(sector, Value);
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(8), Size);
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(12), Type);
        return sector;
    }
}
