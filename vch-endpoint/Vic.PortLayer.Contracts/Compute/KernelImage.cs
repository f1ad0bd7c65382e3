using System.Text;

namespace Vic.PortLayer.Compute;

/// <summary>Reads the version string a Linux bzImage carries in its boot header.</summary>
public static class KernelImage
{
    // Boot protocol: "HdrS" at 0x202; the 16-bit pointer at 0x20E, plus 0x200, locates the version string.
    private const int MagicOffset = 0x202;
    private const int VersionPointerOffset = 0x20E;

    /// <summary>The kernel release (first word of the version string), or null if this is no bzImage.</summary>
    public static string? ReadRelease(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> header = stackalloc byte[0x210];
        if (file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length
            || !header.Slice(MagicOffset, 4).SequenceEqual("HdrS"u8))
        {
            return null;
        }

        var pointer = BitConverter.ToUInt16(header.Slice(VersionPointerOffset, 2)) + 0x200;
        file.Position = pointer;
        Span<byte> text = stackalloc byte[256];
        var read = file.ReadAtLeast(text, text.Length, throwOnEndOfStream: false);
        var end = text[..read].IndexOf((byte)0);
        var version = Encoding.ASCII.GetString(text[..(end < 0 ? read : end)]);
        var space = version.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? version : version[..space];
    }
}
