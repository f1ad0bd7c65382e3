using Vic.TestSupport;

namespace Vic.Disks.Vmdk.Tests;

/// <summary>Our reader against VMDKs that qemu-img wrote, so the reader is not only checked by our writers.</summary>
public sealed class VmdkReaderTests : IDisposable
{
    private readonly TempDirectory _directory = new("vmdk");

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData("monolithicSparse")]
    [InlineData("streamOptimized")]
    public async Task Reads_what_qemu_img_writes(string subformat)
    {
        var disk = TestDisk.Mixed(seed: 11);
        var raw = _directory.Combine("disk.raw");
        var vmdk = _directory.Combine("qemu.vmdk");
        disk.WriteRaw(raw);
        await QemuImg.ConvertAsync(raw, "raw", vmdk, "vmdk", "-o", $"subformat={subformat}");

        using var reader = VmdkReader.Open(vmdk);
        using var expected = File.OpenRead(raw);
        TestDisk.AssertSameBytes(expected, reader);
        Assert.Equal(subformat, reader.Descriptor?.CreateType);
    }

    [Fact]
    public async Task A_qemu_monolithic_sparse_disk_converts_to_stream_optimized()
    {
        var disk = TestDisk.Mixed(seed: 12);
        var raw = _directory.Combine("disk.raw");
        var sparse = _directory.Combine("qemu.vmdk");
        var vmdk = _directory.Combine("stream.vmdk");
        disk.WriteRaw(raw);
        await QemuImg.ConvertAsync(raw, "raw", sparse, "vmdk");
        using (var source = VmdkReader.Open(sparse))
        using (var output = File.Create(vmdk))
        {
            StreamOptimizedWriter.Write(source, output);
        }

        await QemuImg.AssertCleanAsync(vmdk);
        await QemuImg.AssertIdenticalAsync(raw, vmdk);
    }

    [Fact]
    public void Files_that_are_not_sparse_vmdks_are_refused()
    {
        var path = _directory.Combine("descriptor.vmdk");
        File.WriteAllText(path, "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n");

        Assert.Throws<InvalidDataException>(() => VmdkReader.Open(path));
    }

    [Fact]
    public void A_truncated_file_is_an_error_not_zeros()
    {
        var path = _directory.Combine("disk.vmdk");
        using (var writer = MonolithicSparseWriter.Create(path, 1024 * 1024))
        {
            writer.Write([1, 2, 3]);
        }

        using (var file = new FileStream(path, FileMode.Open))
        {
            file.SetLength(file.Length - 512);
        }

        using var reader = VmdkReader.Open(path);
        Assert.Throws<InvalidDataException>(() => reader.ReadGrain(0, new byte[reader.GrainSize]));
    }

    [Fact]
    public void The_stream_is_a_read_only_disk()
    {
        var path = _directory.Combine("disk.vmdk");
        using (var writer = MonolithicSparseWriter.Create(path, 1024 * 1024))
        {
            writer.Position = 1000;
            writer.Write([1, 2, 3]);
        }

        using var reader = VmdkReader.Open(path);
        Assert.True(reader.CanRead);
        Assert.True(reader.CanSeek);
        Assert.False(reader.CanWrite);
        Assert.Equal(1024 * 1024, reader.Length);
        reader.Seek(999, SeekOrigin.Begin);
        Assert.Equal([0, 1, 2, 3, 0], Read(reader, 5));
        reader.Seek(-2, SeekOrigin.End);
        Assert.Equal([0, 0], Read(reader, 10));
        Assert.Equal(0, reader.Read(new byte[1]));
        Assert.Throws<NotSupportedException>(() => reader.WriteByte(1));
    }

    private static byte[] Read(Stream stream, int count)
    {
        var buffer = new byte[count];
        return buffer[..stream.ReadAtLeast(buffer, count, throwOnEndOfStream: false)];
    }
}
