using Vic.TestSupport;

namespace Vic.Disks.Vmdk.Tests;

public sealed class MonolithicSparseWriterTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private const long GiB = 1024 * MiB;

    private readonly TempDirectory _directory = new("vmdk");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Mixed_writes_give_the_raw_image_to_qemu()
    {
        var (raw, vmdk) = Write(TestDisk.Mixed());

        await QemuImg.AssertValidAndEqualAsync(raw, vmdk, "monolithicSparse", _directory);
    }

    [Fact]
    public void The_reader_reads_back_what_was_written()
    {
        var (raw, vmdk) = Write(TestDisk.Mixed());

        using var reader = VmdkReader.Open(vmdk);
        using var expected = File.OpenRead(raw);
        TestDisk.AssertSameBytes(expected, reader);
        Assert.Equal("monolithicSparse", reader.Descriptor?.CreateType);
        Assert.False(reader.IsGrainAllocated(60 * MiB / TestDisk.Grain), "zeros written where nothing was must not allocate");
        Assert.True(reader.IsGrainAllocated(70 * MiB / TestDisk.Grain));
        Assert.True(reader.IsGrainAllocated(reader.GrainCount - 1));
    }

    [Fact]
    public async Task A_large_sparse_disk_stays_small()
    {
        var disk = new TestDisk(8 * GiB, seed: 2)
            .Random(0, (int)(2 * MiB))
            .Text((4 * GiB) + 123, (int)MiB)
            .Random((6 * GiB) + 5, 10)
            .Random((8 * GiB) - TestDisk.Grain, TestDisk.Grain);
        var (raw, vmdk) = Write(disk);

        // 3 MiB of data in 51 grains, plus 2 x 1 MiB of reserved, mostly unwritten, tables.
        Assert.InRange(new FileInfo(vmdk).Length, 3 * MiB, 6 * MiB);
        await QemuImg.AssertCleanAsync(vmdk);
        await QemuImg.AssertInfoAsync(vmdk, 8 * GiB, "monolithicSparse");
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
        using var reader = VmdkReader.Open(vmdk);
        Assert.Equal(32 + 17 + 1 + 1, reader.AllocatedGrains().Count());
        foreach (var write in disk.Writes)
        {
            var read = new byte[write.Data.Length];
            reader.Position = write.Offset;
            reader.ReadExactly(read);
            Assert.Equal(write.Data, read);
        }
    }

    [Fact]
    public async Task Zeros_allocate_nothing()
    {
        var disk = new TestDisk(10 * MiB, seed: 3).Zeros(0, (int)MiB).Zeros(5 * MiB, 100).Zeros((10 * MiB) - 512, 512);
        var (raw, vmdk) = Write(disk, writer => Assert.Equal(0, writer.AllocatedGrains));

        // Header, descriptor and tables, padded to the first grain boundary: nothing more.
        Assert.Equal(TestDisk.Grain, new FileInfo(vmdk).Length);
        await QemuImg.AssertCleanAsync(vmdk);
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
    }

    [Fact]
    public async Task Flush_leaves_a_complete_image_and_writing_goes_on()
    {
        var first = new TestDisk(4 * MiB, seed: 4).Random(MiB, 5000);
        var both = new TestDisk(4 * MiB, seed: 4).Random(MiB, 5000).Random(3 * MiB, 7000);
        var raw = _directory.Combine("first.raw");
        var vmdk = _directory.Combine("disk.vmdk");
        var snapshot = _directory.Combine("snapshot.vmdk");
        first.WriteRaw(raw);
        using (var writer = MonolithicSparseWriter.Create(vmdk, 4 * MiB))
        {
            first.ApplyTo(writer);
            writer.Flush(flushToDisk: true);
            File.Copy(vmdk, snapshot);
            writer.Position = both.Writes[1].Offset;
            writer.Write(both.Writes[1].Data);
        }

        await QemuImg.AssertIdenticalAsync(raw, snapshot);
        both.WriteRaw(raw);
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
    }

    [Fact]
    public async Task Async_and_single_byte_writes_land_where_they_should()
    {
        var disk = new TestDisk(MiB + 512, seed: 5).Random(1000, 70000).Add(MiB + 511, [7]);
        var raw = _directory.Combine("disk.raw");
        var vmdk = _directory.Combine("disk.vmdk");
        disk.WriteRaw(raw);
        await using (var writer = MonolithicSparseWriter.Create(vmdk, disk.Capacity))
        {
            writer.Seek(1000, SeekOrigin.Begin);
            await writer.WriteAsync(disk.Writes[0].Data);
            writer.Seek(-1, SeekOrigin.End);
            writer.WriteByte(7);
            Assert.Equal(disk.Capacity, writer.Position);
        }

        await QemuImg.AssertValidAndEqualAsync(raw, vmdk, "monolithicSparse", _directory);
    }

    [Fact]
    public async Task Qemu_can_go_on_writing_to_it()
    {
        // QEMU only writes into grain tables that exist: every directory entry must point at one.
        var (raw, vmdk) = Write(TestDisk.Mixed(seed: 6));
        string[] commands = ["-c", "write -P 0x55 50M 64k", "-c", "write -P 0x66 99M 4k", "-c", "write -P 0x77 2M 512"];
        var written = await Command.RunAsync("qemu-io", ["-f", "vmdk", .. commands, vmdk]);
        Assert.True(written.ExitCode == 0, written.ToString());
        written = await Command.RunAsync("qemu-io", ["-f", "raw", .. commands, raw]);
        Assert.True(written.ExitCode == 0, written.ToString());

        await QemuImg.AssertCleanAsync(vmdk);
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
        using var reader = VmdkReader.Open(vmdk);
        using var expected = File.OpenRead(raw);
        TestDisk.AssertSameBytes(expected, reader);
    }

    [Fact]
    public void The_redundant_tables_mirror_the_primary_ones()
    {
        var (_, vmdk) = Write(TestDisk.Mixed());
        var file = File.ReadAllBytes(vmdk);
        var header = SparseExtentHeader.Read(file);

        Assert.True(header.Flags.HasFlag(SparseExtentFlags.RedundantGrainTable));
        var tables = (int)Math.Ceiling(header.CapacitySectors / (128.0 * 512));
        for (var i = 0; i < tables; i++)
        {
            var (primaryOffset, primary) = Table(file, (int)header.GrainDirectoryOffset, i);
            var (redundantOffset, redundant) = Table(file, (int)header.RedundantGrainDirectoryOffset, i);
            Assert.NotEqual(primaryOffset, redundantOffset);
            Assert.Equal(primary.ToArray(), redundant.ToArray());
        }
    }

    [Fact]
    public void The_stream_is_a_fixed_size_write_only_disk()
    {
        using var writer = MonolithicSparseWriter.Create(_directory.Combine("disk.vmdk"), MiB);

        Assert.False(writer.CanRead);
        Assert.True(writer.CanSeek);
        Assert.True(writer.CanWrite);
        Assert.Equal(MiB, writer.Length);
        Assert.Throws<NotSupportedException>(() => writer.ReadByte());
        Assert.Throws<NotSupportedException>(() => writer.SetLength(2 * MiB));
        writer.Position = MiB - 10;
        Assert.Throws<IOException>(() => writer.Write(new byte[11]));
        Assert.Throws<IOException>(() => writer.Seek(-1, SeekOrigin.Begin));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(4L * 1024 * GiB)]
    public void Impossible_capacities_are_refused(long capacity) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MonolithicSparseWriter.Create(_directory.Combine("bad.vmdk"), capacity));

    [Fact]
    public async Task The_ide_adapter_type_uses_ide_geometry()
    {
        var vmdk = _directory.Combine("ide.vmdk");
        using (MonolithicSparseWriter.Create(vmdk, 100 * MiB, VmdkAdapterType.Ide))
        {
        }

        using var reader = VmdkReader.Open(vmdk);
        Assert.Equal("ide", reader.Descriptor!.Values["ddb.adapterType"]);
        Assert.Equal("16", reader.Descriptor.Values["ddb.geometry.heads"]);
        Assert.Equal("204", reader.Descriptor.Values["ddb.geometry.cylinders"]);
        await QemuImg.AssertInfoAsync(vmdk, 100 * MiB, "monolithicSparse");
    }

    private static (int Offset, ReadOnlyMemory<byte> Entries) Table(byte[] file, int directorySector, int index)
    {
        var sector = (int)BitConverter.ToUInt32(file, (directorySector * 512) + (index * 4));
        return (sector, file.AsMemory(sector * 512, 2048));
    }

    private (string Raw, string Vmdk) Write(TestDisk disk, Action<MonolithicSparseWriter>? check = null)
    {
        var raw = _directory.Combine("disk.raw");
        var vmdk = _directory.Combine("disk.vmdk");
        disk.WriteRaw(raw);
        using var writer = MonolithicSparseWriter.Create(vmdk, disk.Capacity);
        disk.ApplyTo(writer);
        check?.Invoke(writer);
        return (raw, vmdk);
    }
}
