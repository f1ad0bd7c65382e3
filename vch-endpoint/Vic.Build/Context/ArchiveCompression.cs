using System.ComponentModel;
using System.Diagnostics;
using System.IO.Compression;

namespace Vic.Build.Context;

/// <summary>
/// The compressions dockerd takes for a build context and unpacks in <c>ADD</c>: gzip, bzip2 and
/// xz, told apart by their magic bytes as dockerd's archive package tells them. gzip is .NET's;
/// bzip2 and xz go through Debian's <c>bzip2 -dc</c> and <c>xz -dc</c> (.NET has neither, and
/// the managed bzip2 readers stop after the first stream of a pbzip2/lbzip2 file), as dockerd
/// itself shells out to them when it can.
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
        "bzip2" => new ProcessDecompressStream("bzip2", input, leaveOpen),
        "xz" => new ProcessDecompressStream("xz", input, leaveOpen),
        _ => input,
    };

    /// <summary>
    /// A decompressor program reading <c>-dc</c> from a pipe we feed and writing to one we read.
    /// Disposed (also half way, when the unpack fails), it stops feeding, kills the program and
    /// waits for the feeder, so no request body is read for nothing and no process is left.
    /// </summary>
    private sealed class ProcessDecompressStream : Stream
    {
        private readonly Process _program;
        private readonly string _name;
        private readonly Stream _input;
        private readonly bool _leaveOpen;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _feeding;
        private readonly Task<string> _errors;
        private bool _disposed;

        public ProcessDecompressStream(string program, Stream input, bool leaveOpen)
        {
            _name = program;
            _input = input;
            _leaveOpen = leaveOpen;
            var start = new ProcessStartInfo(program, ["-dc"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            try
            {
                _program = Process.Start(start) ?? throw new Win32Exception();
            }
            catch (Win32Exception)
            {
                throw new BuildException($"a {program} archive needs {program}, which is not installed on this VCH");
            }

            _errors = _program.StandardError.ReadToEndAsync();
            var token = _stop.Token;
            _feeding = Task.Run(async () =>
            {
                try
                {
                    await input.CopyToAsync(_program.StandardInput.BaseStream, token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
                {
                    // The program stopped reading (it failed, or we are done with it): its exit says why.
                }
                finally
                {
                    try
                    {
                        _program.StandardInput.Close();
                    }
                    catch (IOException)
                    {
                        // Its end of the pipe is gone already.
                    }
                }
            }, CancellationToken.None);
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await _program.StandardOutput.BaseStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0 && buffer.Length > 0)
            {
                await _feeding.ConfigureAwait(false);
                await _program.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                if (_program.ExitCode != 0)
                {
                    throw new InvalidDataException($"{_name}: {(await _errors.ConfigureAwait(false)).Trim()}");
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
                _stop.Cancel();
                try
                {
                    if (!_program.HasExited)
                    {
                        _program.Kill();
                    }
                }
                catch (InvalidOperationException)
                {
                    // It ended on its own meanwhile.
                }

                _feeding.Wait(TimeSpan.FromSeconds(10));
                _program.Dispose();
                _stop.Dispose();
                if (!_leaveOpen)
                {
                    _input.Dispose();
                }
            }

            base.Dispose(disposing);
        }
    }
}
