using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu;

/// <summary>The console log QEMU writes into each VM's folder (its first serial port).</summary>
public sealed partial class QemuBackend : IConsoleLogSource
{
    public async Task<byte[]?> ReadConsoleAsync(string vmId, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        var path = FolderOf(vmId).Console;
        try
        {
            // QEMU keeps writing while we read: open shared, and read only the tail.
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, useAsync: true);
            var start = Math.Max(0, file.Length - maxBytes);
            file.Position = start;
            var tail = new byte[file.Length - start];
            var read = await file.ReadAtLeastAsync(tail, tail.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            return read == tail.Length ? tail : tail[..read];
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
