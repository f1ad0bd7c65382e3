using System.Buffers.Binary;
using System.Text;
using Vic.PortLayer.Compute;

namespace Vic.PortLayer.Tests;

public sealed class KernelImageTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ReadsTheReleaseFromABzImageBootHeader()
    {
        var path = Write(BzImage("6.6.31-vic (builder@vic) #1 SMP PREEMPT_DYNAMIC Tue May 14 2024", versionAt: 0x3C0));

        Assert.Equal("6.6.31-vic", KernelImage.ReadRelease(path));
    }

    [Fact]
    public void TheVersionPointerIsLittleEndianAndRelativeTo0x200()
    {
        // 0x0345 little-endian: a big-endian reading or a missing 0x200 lands elsewhere.
        var image = BzImage("5.15.0-107-generic (buildd@lcy02) #117", versionAt: 0x200 + 0x0345);
        Encoding.ASCII.GetBytes("wrong-1 x\0").CopyTo(image, 0x0345);
        Encoding.ASCII.GetBytes("wrong-2 x\0").CopyTo(image, 0x200 + 0x4503);

        Assert.Equal("5.15.0-107-generic", KernelImage.ReadRelease(Write(image)));
    }

    [Fact]
    public void AVersionWithoutASpaceIsTakenWholeUpToItsNul()
    {
        var path = Write(BzImage("4.19.0-vic", versionAt: 0x400));

        Assert.Equal("4.19.0-vic", KernelImage.ReadRelease(path));
    }

    [Fact]
    public void AVersionRunningToTheEndOfTheFileIsTakenWhole()
    {
        var image = BzImage("", versionAt: 0x300)[..0x300];
        var path = Write([.. image, .. "6.1.0-tail"u8]);

        Assert.Equal("6.1.0-tail", KernelImage.ReadRelease(path));
    }

    [Fact]
    public void AFileWithoutTheHdrSMagicIsNoBzImage()
    {
        var image = BzImage("6.6.31-vic build", versionAt: 0x3C0);
        Encoding.ASCII.GetBytes("HdrX").CopyTo(image, 0x202);

        Assert.Null(KernelImage.ReadRelease(Write(image)));
    }

    [Fact]
    public void AnElfKernelIsNoBzImage()
    {
        var elf = new byte[4096];
        new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1 }.CopyTo(elf, 0);

        Assert.Null(KernelImage.ReadRelease(Write(elf)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(0x100)]
    [InlineData(0x205)]
    [InlineData(0x20F)]
    public void AFileShorterThanTheBootHeaderIsNoBzImage(int length)
    {
        var image = BzImage("6.6.31-vic x", versionAt: 0x300)[..length];

        Assert.Null(KernelImage.ReadRelease(Write(image)));
    }

    /// <summary>
    /// A file laid out as the Linux boot protocol describes: "HdrS" at 0x202 and, at 0x20E, the
    /// little-endian offset of the NUL-terminated version string, counted from 0x200.
    /// </summary>
    private static byte[] BzImage(string version, int versionAt)
    {
        var image = new byte[0x5000];
        image[0x1FE] = 0x55;
        image[0x1FF] = 0xAA;
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x20E), checked((ushort)(versionAt - 0x200)));
        Encoding.ASCII.GetBytes(version + "\0").CopyTo(image, versionAt);
        return image;
    }

    private string Write(byte[] content)
    {
        var path = _dir.File($"bzImage-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, content);
        return path;
    }
}
