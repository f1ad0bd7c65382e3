using Vic.PortLayer.Volumes;

namespace Vic.PortLayer.Tests;

public sealed class VolumeStoreConfigTests
{
    [Fact]
    public void VicsNfsVolumeStoreFormIsRead()
    {
        var plain = VolumeStoreConfig.Parse("nfs://10.0.0.5/exports/vch:shared");
        var full = VolumeStoreConfig.Parse("nfs://nas.example:12049/a/b?uid=1000&gid=50:default");
        var uidOnly = VolumeStoreConfig.Parse("nfs://10.0.0.5/x?uid=7:s");

        Assert.Equal(new VolumeStoreConfig("shared", new NfsLocation("10.0.0.5", 2049, "/exports/vch", 0, 0)), plain);
        Assert.Equal(new VolumeStoreConfig("default", new NfsLocation("nas.example", 12049, "/a/b", 1000, 50)), full);
        Assert.Equal(7u, uidOnly.Nfs!.Gid);
        Assert.Equal("/exports/vch/volumes/data", plain.Nfs!.VolumePath("data"));
        Assert.Equal("nfs://10.0.0.5/exports/vch/volumes/data", plain.Nfs.Url("data"));
        Assert.Equal("nfs://nas.example:12049/a/b/volumes/data", full.Nfs!.Url("data"));
    }

    [Theory]
    [InlineData("nfs://10.0.0.5/exports", "has no label")]
    [InlineData("nfs://10.0.0.5/:root", "not its root")]
    [InlineData("/local/folder:store", "only nfs://")]
    [InlineData("nfs://10.0.0.5/x?uid=me:s", "uid and gid are numbers")]
    public void BadVolumeStoresAreRefusedBeforeAnythingStarts(string text, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => VolumeStoreConfig.Parse(text));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
