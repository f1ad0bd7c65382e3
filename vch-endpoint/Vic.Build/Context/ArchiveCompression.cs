using System.Diagnostics;
using System.IO.Compression;
using ICSharpCode.SharpZipLib.BZip2;

namespace Vic.Build.Context;

/// <summary>
/// The compressions dockerd takes for a build context and unpacks in <c>ADD</c>: gzip, bzip2 and
/// xz, told apart by their magic bytes as dockerd's archive package tells them.
/// </summary>
internal static class ArchiveCompression
{
    /// <summary>Bytes enough to tell every kind apart.</summary>
    public const int MagicLength = 6;

    public static bool IsCompressed(ReadOnlySpan<byte> head) => Name(head) is not null;

    /// <summary>"gzip", "bzip2", "xz", or null for none of them.</summary>
    public static string? Name(ReadOnlySpan<byte> head) =>
        head.StartsWith((ReadOnlySpan<byte>)[0x1f, 0x8b]) ? "gzip"
        : head.StartsWith("BZh"u8) ? "bzip2"
        : head.StartsWith((ReadOnlySpan<byte>)[0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00]) ? "xz"
        : null;

    /// <summary>
    /// <paramref name="input"/> (whose first bytes are <paramref name="head"/>) decompressed, or
    /// itself when it is not compressed. Corrupt data surfaces as <see cref="InvalidDataException"/>.
    /// </summary>
    public static Stream Decompress(Stream input, ReadOnlySpan<byte> head, bool leaveOpen = false) => Name(head) switch
    {
        "gzip" => new GZipStream(input, CompressionMode.Decompress, leaveOpen),
        "bzip2" => new BZip2InputStream(input) { IsStreamOwner = !leaveOpen },
        "xz" => new XzDecompressStream(input, leaveOpen),
        _ => input,
    };

    /// <summary>xz through Debian's <c>xz -dc</c> (xz-utils is in every Debian): .NET has no xz of its own.</summary>
    private sealed class XzDecompressStream : Stream
    {
        private readonly Process _xz;
        private readonly Stream _input;
        private readonly bool _leaveOpen;
        private readonly Task _feeding;
        private readonly Task<string> _errors;
        private bool _disposed;

        public XzDecompressStream(Stream input, bool leaveOpen)
        {
            _input = input;
            _leaveOpen = leaveOpen;
            var start = new ProcessStartInfo("xz", ["-dc"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            _xz = Process.Start(start) ?? throw new InvalidDataException("xz could not be started to unpack an xz archive");
            _errors = _xz.StandardError.ReadToEndAsync();
            _feeding = Task.Run(async () =>
            {
                try
                {
                    await input.CopyToAsync(_xz.StandardInput.BaseStream).ConfigureAwait(false);
                }
                catch (IOException)
                {
                    // xz stopped reading (it failed or was disposed): its exit says why.
                }
                finally
                {
                    _xz.StandardInput.Close();
                }
            });
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await _xz.StandardOutput.BaseStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0 && buffer.Length > 0)
            {
                await _feeding.ConfigureAwait(false);
                await _xz.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                if (_xz.ExitCode != 0)
                {
                    throw new InvalidDataException($"xz: {(await _errors.ConfigureAwait(false)).Trim()}");
                }
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                if (!_xz.HasExited)
                {
                    _xz.Kill();
                }

                _xz.Dispose();
                if (!_leaveOpen)
                {
                    _input.Dispose();
                }
            }

            base.Dispose(disposing);
        }
    }
}
