using System.Text;

namespace Vic.Disks.Ext4.Tree;

/// <summary>Splits an in-image path ("/usr/bin/env") into names ext4 can store.</summary>
internal static class ImagePath
{
    public const int MaxNameBytes = 255;

    /// <summary>UTF-8 that throws on lone surrogates instead of writing U+FFFD, which could make two
    /// distinct names equal on disk.</summary>
    public static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string[] Split(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var names = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        foreach (var name in names)
        {
            if (name is "." or ".." || name.Contains('\0', StringComparison.Ordinal))
            {
                throw new ArgumentException($"path '{path}' is not normalised", nameof(path));
            }

            if (Utf8.GetByteCount(name) > MaxNameBytes)
            {
                throw new ArgumentException($"path '{path}' has a name longer than {MaxNameBytes} bytes", nameof(path));
            }
        }

        return names;
    }
}
