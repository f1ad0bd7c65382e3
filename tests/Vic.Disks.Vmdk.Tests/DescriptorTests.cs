using Vic.TestSupport;

namespace Vic.Disks.Vmdk.Tests;

public sealed class DescriptorTests : IDisposable
{
    private readonly TempDirectory _directory = new("vmdk");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void The_monolithic_sparse_descriptor_describes_the_disk()
    {
        var vmdk = _directory.Combine("layer.vmdk");
        using (MonolithicSparseWriter.Create(vmdk, 8L * 1024 * 1024 * 1024))
        {
        }

        using var reader = VmdkReader.Open(vmdk);
        var descriptor = reader.Descriptor!;
        Assert.Equal("monolithicSparse", descriptor.CreateType);
        Assert.NotNull(descriptor.Cid);
        Assert.Equal(0xFFFFFFFFu, descriptor.ParentCid);
        Assert.Equal([new VmdkExtentDescription("RW", 16777216, "SPARSE", "layer.vmdk")], descriptor.Extents);
        Assert.Equal("lsilogic", descriptor.Values["ddb.adapterType"]);
        Assert.Equal("255", descriptor.Values["ddb.geometry.heads"]);
        Assert.Equal("63", descriptor.Values["ddb.geometry.sectors"]);
        Assert.Equal("1045", descriptor.Values["ddb.geometry.cylinders"]);
        Assert.Equal("4", descriptor.Values["ddb.virtualHWVersion"]);
    }

    [Fact]
    public void The_stream_optimized_descriptor_names_the_upload()
    {
        using var output = new MemoryStream();
        var options = new StreamOptimizedOptions { ExtentFileName = "sha256-abc.vmdk", AdapterType = VmdkAdapterType.BusLogic };
        StreamOptimizedWriter.Write(new MemoryStream(), 1024 * 1024, output, options);
        var path = _directory.Combine("stream.vmdk");
        File.WriteAllBytes(path, output.ToArray());

        using var reader = VmdkReader.Open(path);
        Assert.Equal("streamOptimized", reader.Descriptor!.CreateType);
        Assert.Equal([new VmdkExtentDescription("RW", 2048, "SPARSE", "sha256-abc.vmdk")], reader.Descriptor.Extents);
        Assert.Equal("buslogic", reader.Descriptor.Values["ddb.adapterType"]);
    }

    [Fact]
    public void Descriptors_of_other_tools_parse()
    {
        // As ovftool writes it: CRLF, an unquoted createType, an extra ddb key.
        var text = "# Disk DescriptorFile\r\nversion=1\r\nCID=2bdc5c77\r\nparentCID=ffffffff\r\n" +
            "createType=streamOptimized\r\n\r\n# Extent description\r\nRDONLY 16777216 SPARSE \"dest-0.vmdk\"\r\n\r\n" +
            "#DDB\r\nddb.toolsVersion = \"2147483647\"\r\n";

        var descriptor = VmdkDescriptor.Parse(text);

        Assert.Equal("streamOptimized", descriptor.CreateType);
        Assert.Equal(0x2bdc5c77u, descriptor.Cid);
        Assert.Equal([new VmdkExtentDescription("RDONLY", 16777216, "SPARSE", "dest-0.vmdk")], descriptor.Extents);
        Assert.Equal("2147483647", descriptor.Values["ddb.toolsVersion"]);
    }

    [Fact]
    public void Extent_names_that_would_break_the_descriptor_are_refused()
    {
        var options = new StreamOptimizedOptions { ExtentFileName = "a\"b.vmdk" };

        Assert.Throws<ArgumentException>(() => StreamOptimizedWriter.Write(new MemoryStream(), 1024, Stream.Null, options));
    }
}
