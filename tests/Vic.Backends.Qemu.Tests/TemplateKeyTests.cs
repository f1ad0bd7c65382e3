using Microsoft.Extensions.Logging.Abstractions;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu.Tests;

public sealed class TemplateKeyTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vic-template-key").FullName;

    [Fact]
    public void AnInitramfsOfTheSameSizeAndTimeButOtherBytesGetsANewTemplate()
    {
        // iso/build.sh writes its files with one fixed time, so a rebuilt tether can match the old one in both.
        var kernel = Write("vmlinux", "kernel");
        var before = Write("initramfs-a.cpio", "tether one");
        var after = Write("initramfs-b.cpio", "tether two");
        var same = Write("initramfs-c.cpio", "tether one");

        string KeyOf(string initramfs) =>
            new TemplateStore(new QemuBackendOptions(_folder, kernel, initramfs, new VmResources(2, 1L << 30)), NullLogger.Instance).Key(new VmResources(1, 256L << 20), "tcg");

        Assert.NotEqual(KeyOf(before), KeyOf(after));
        Assert.NotEqual(KeyOf(before), KeyOf(same)); // another path is another file
        Assert.Equal(KeyOf(before), KeyOf(before));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        File.SetLastWriteTimeUtc(path, new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        return path;
    }
}
