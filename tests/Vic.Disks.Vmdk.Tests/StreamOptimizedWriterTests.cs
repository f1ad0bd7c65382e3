using Vic.TestSupport;

namespace Vic.Disks.Vmdk.Tests;

public sealed class StreamOptimizedWriterTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private const long GiB = 1024 * MiB;

    private readonly TempDirectory _directory = new("vmdk");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task A_raw_disk_streamed_to_a_non_seekable_output_is_the_same_disk_for_qemu()
    {
        var disk = TestDisk.Mixed();
        var raw = _directory.Combine("disk.raw");
        var vmdk = _directory.Combine("stream.vmdk");
        disk.WriteRaw(raw);
        using (var source = File.OpenRead(raw))
        using (var output = new NonSeekableStream(File.Create(vmdk)))
        {
            StreamOptimizedWriter.Write(source, disk.Capacity, output);
        }

        await QemuImg.AssertValidAndEqualAsync(raw, vmdk, "streamOptimized", _directory);
        using var reader = VmdkReader.Open(vmdk);
        using var expected = File.OpenRead(raw);
        TestDisk.AssertSameBytes(expected, reader);
        Assert.Equal("streamOptimized", reader.Descriptor?.CreateType);
    }

    [Fact]
    public async Task A_monolithic_sparse_disk_converts_to_the_same_disk()
    {
        var disk = TestDisk.Mixed(seed: 7);
        var raw = _directory.Combine("disk.raw");
        var sparse = _directory.Combine("sparse.vmdk");
        var vmdk = _directory.Combine("stream.vmdk");
        disk.WriteRaw(raw);
        using (var writer = MonolithicSparseWriter.Create(sparse, disk.Capacity))
        {
            disk.ApplyTo(writer);
        }

        using (var source = VmdkReader.Open(sparse))
        using (var output = new NonSeekableStream(File.Create(vmdk)))
        {
            StreamOptimizedWriter.Write(source, output);
        }

        await QemuImg.AssertValidAndEqualAsync(raw, vmdk, "streamOptimized", _directory);
    }

    [Fact]
    public async Task A_large_sparse_disk_streams_only_its_data()
    {
        var disk = new TestDisk(8 * GiB, seed: 8)
            .Random(0, (int)MiB)
            .Text(3 * GiB, (int)MiB)
            .Random((8 * GiB) - 512, 512);
        var raw = _directory.Combine("disk.raw");
        var sparse = _directory.Combine("sparse.vmdk");
        var vmdk = _directory.Combine("stream.vmdk");
        disk.WriteRaw(raw);
        using (var writer = MonolithicSparseWriter.Create(sparse, disk.Capacity))
        {
            disk.ApplyTo(writer);
        }

        await using (var source = VmdkReader.Open(sparse))
        await using (var output = new NonSeekableStream(File.Create(vmdk)))
        {
            await StreamOptimizedWriter.WriteAsync(source, output);
        }

        // 1 MiB of random data, 1 MiB of text that deflates to about 40%, three grain tables and a 1 KiB directory.
        Assert.InRange(new FileInfo(vmdk).Length, MiB, 2 * MiB);
        await QemuImg.AssertCleanAsync(vmdk);
        await QemuImg.AssertInfoAsync(vmdk, 8 * GiB, "streamOptimized");
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
    }

    [Fact]
    public async Task The_async_writer_streams_a_raw_disk()
    {
        var disk = new TestDisk((3 * MiB) + 512, seed: 9).Random(100, 200000).Text(2 * MiB, 4096).Random(3 * MiB, 512);
        var raw = _directory.Combine("disk.raw");
        var vmdk = _directory.Combine("stream.vmdk");
        disk.WriteRaw(raw);
        await using (var source = File.OpenRead(raw))
        await using (var output = new NonSeekableStream(File.Create(vmdk)))
        {
            await StreamOptimizedWriter.WriteAsync(source, disk.Capacity, output);
        }

        await QemuImg.AssertValidAndEqualAsync(raw, vmdk, "streamOptimized", _directory);
    }

    [Fact]
    public async Task An_empty_disk_has_only_metadata()
    {
        var raw = _directory.Combine("disk.raw");
        var vmdk = _directory.Combine("stream.vmdk");
        new TestDisk(10 * MiB, seed: 10).WriteRaw(raw);
        using (var output = File.Create(vmdk))
        {
            StreamOptimizedWriter.Write(new MemoryStream(), 10 * MiB, output);
        }

        // Header + descriptor (21), directory marker + directory (2), footer marker + footer (2), end of stream (1).
        Assert.Equal(26 * 512, new FileInfo(vmdk).Length);
        await QemuImg.AssertCleanAsync(vmdk);
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
    }

    [Fact]
    public void A_source_longer_than_the_capacity_is_refused()
    {
        var source = new MemoryStream(new byte[(2 * MiB) + 1]);

        Assert.Throws<InvalidDataException>(() => StreamOptimizedWriter.Write(source, 2 * MiB, Stream.Null));
    }
}
