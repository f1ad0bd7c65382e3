using System.Buffers.Binary;
using Vic.TestSupport;

namespace Vic.Disks.Vmdk.Tests;

/// <summary>The header bytes, field by field (offsets from VMware's SparseExtentHeader).</summary>
public sealed class HeaderGoldenTests : IDisposable
{
    private const long TenMiB = 10 * 1024 * 1024;

    private readonly TempDirectory _directory = new("vmdk");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Monolithic_sparse_header()
    {
        var vmdk = _directory.Combine("disk.vmdk");
        using (MonolithicSparseWriter.Create(vmdk, TenMiB))
        {
        }

        var expected =
            "4B444D56" +             // magic "KDMV"
            "01000000" +             // version 1
            "03000000" +             // flags: newline detection, redundant grain table
            "0050000000000000" +     // capacity: 20480 sectors
            "8000000000000000" +     // grain: 128 sectors
            "0100000000000000" +     // descriptor at sector 1...
            "1400000000000000" +     // ...20 sectors long
            "00020000" +             // 512 entries per grain table
            "1500000000000000" +     // redundant directory at 21 (its table at 22)
            "1A00000000000000" +     // directory at 26 (its table at 27)
            "8000000000000000" +     // overhead: grains start at 128
            "00" +                   // clean shutdown
            "0A200D0A" +             // "\n \r\n"
            "0000";                  // not compressed
        var header = File.ReadAllBytes(vmdk).AsSpan(0, 512);
        Assert.Equal(expected, Convert.ToHexString(header[..79]));
        Assert.False(header[79..].ContainsAnyExcept((byte)0));
    }

    [Fact]
    public void Stream_optimized_header_footer_and_markers()
    {
        var disk = new byte[TenMiB];
        disk[(5 * 1024 * 1024) + 1] = 1;
        using var output = new MemoryStream();
        StreamOptimizedWriter.Write(new MemoryStream(disk), TenMiB, output);
        var file = output.ToArray();

        var expected =
            "4B444D56" +             // magic "KDMV"
            "03000000" +             // version 3
            "01000300" +             // flags: newline detection, compressed grains, markers
            "0050000000000000" +     // capacity: 20480 sectors
            "8000000000000000" +     // grain: 128 sectors
            "0100000000000000" +     // descriptor at sector 1...
            "1400000000000000" +     // ...20 sectors long
            "00020000" +             // 512 entries per grain table
            "0000000000000000" +     // no redundant directory
            "FFFFFFFFFFFFFFFF" +     // directory: at the end (see the footer)
            "1500000000000000" +     // overhead: grains start at 21
            "00" +                   // clean shutdown
            "0A200D0A" +             // "\n \r\n"
            "0100";                  // deflate
        Assert.Equal(expected, Convert.ToHexString(file.AsSpan(0, 79)));
        Assert.False(file.AsSpan(79, 512 - 79).ContainsAnyExcept((byte)0));

        // The one grain at sector 21: its LBA (grain 80 = sector 10240) and compressed size.
        Assert.Equal(10240UL, BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(21 * 512)));
        var size = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((21 * 512) + 8));
        Assert.InRange(size, 10u, 500u);

        // Then: table marker (4 sectors of table, type 1) + table, directory marker + directory,
        // footer marker + footer, end-of-stream marker.
        Assert.Equal(22 + 1 + 4 + 1 + 1 + 1 + 1 + 1, file.Length / 512);
        AssertMarker(file, 22, 4, 1);
        Assert.Equal(21u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((23 * 512) + (80 * 4))));
        AssertMarker(file, 27, 1, 2);
        Assert.Equal(23u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(28 * 512)));
        AssertMarker(file, 29, 1, 3);
        var footer = file.AsSpan(30 * 512, 512).ToArray();
        Assert.Equal(28UL, BinaryPrimitives.ReadUInt64LittleEndian(footer.AsSpan(56)));
        BinaryPrimitives.WriteUInt64LittleEndian(footer.AsSpan(56), ulong.MaxValue);
        Assert.Equal(file.AsSpan(0, 512).ToArray(), footer);
        Assert.False(file.AsSpan(31 * 512).ContainsAnyExcept((byte)0));
    }

    [Fact]
    public void Headers_round_trip()
    {
        var header = new SparseExtentHeader
        {
            Version = 2,
            Flags = SparseExtentFlags.ValidNewlineDetection | SparseExtentFlags.ZeroedGrainTableEntry,
            CapacitySectors = 123456789,
            DescriptorOffset = 1,
            DescriptorSectors = 20,
            RedundantGrainDirectoryOffset = 21,
            GrainDirectoryOffset = 4000,
            OverheadSectors = 8064,
            UncleanShutdown = true,
        };

        Assert.Equal(header, SparseExtentHeader.Read(header.ToBytes()));
    }

    [Fact]
    public void Damaged_headers_are_refused()
    {
        var bytes = new SparseExtentHeader { Flags = SparseExtentFlags.ValidNewlineDetection }.ToBytes();
        bytes[75] = (byte)'\n';
        Assert.Throws<InvalidDataException>(() => SparseExtentHeader.Read(bytes));
        Assert.Throws<InvalidDataException>(() => SparseExtentHeader.Read(new byte[512]));
    }

    private static void AssertMarker(byte[] file, int sector, ulong value, uint type)
    {
        var marker = file.AsSpan(sector * 512, 512);
        Assert.Equal(value, BinaryPrimitives.ReadUInt64LittleEndian(marker));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(marker[8..]));
        Assert.Equal(type, BinaryPrimitives.ReadUInt32LittleEndian(marker[12..]));
        Assert.False(marker[16..].ContainsAnyExcept((byte)0));
    }
}
