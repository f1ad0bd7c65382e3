using System.Text;

namespace Vic.ImageStore.Archive;

/// <summary>
/// Writes a plain ustar archive front to back onto any stream, content streamed from a callback with
/// its length known up front, so a save of gigabytes never buffers a layer. Names are at most 100
/// bytes, which every name of a docker save archive is.
/// </summary>
internal sealed class UstarWriter(Stream output)
{
    private const int Block = 512;

    public async Task AddFileAsync(string name, long length, Func<Stream, Task> writeContent, CancellationToken cancellationToken)
    {
        await output.WriteAsync(Header(name, length, '0'), cancellationToken).ConfigureAwait(false);
        var counting = new CountingStream(output);
        await writeContent(counting).ConfigureAwait(false);
        if (counting.Written != length)
        {
            throw new InvalidOperationException($"{name}: wrote {counting.Written} bytes, announced {length}");
        }

        await PadAsync(length, cancellationToken).ConfigureAwait(false);
    }

    public Task AddFileAsync(string name, byte[] content, CancellationToken cancellationToken) =>
        AddFileAsync(name, content.Length, s => s.WriteAsync(content, cancellationToken).AsTask(), cancellationToken);

    public async Task AddDirectoryAsync(string name, CancellationToken cancellationToken) =>
        await output.WriteAsync(Header(name.EndsWith('/') ? name : name + "/", 0, '5'), cancellationToken).ConfigureAwait(false);

    /// <summary>Two zero blocks end the archive.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken) =>
        await output.WriteAsync(new byte[Block * 2], cancellationToken).ConfigureAwait(false);

    private static byte[] Header(string name, long length, char type)
    {
        var header = new byte[Block];
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100)
        {
            throw new ArgumentException($"tar name longer than 100 bytes: {name}", nameof(name));
        }

        nameBytes.CopyTo(header, 0);
        Octal(header, 100, 8, type == '5' ? 0b111_101_101 : 0b110_100_100);
        Octal(header, 108, 8, 0);
        Octal(header, 116, 8, 0);
        Octal(header, 124, 12, length);
        Octal(header, 136, 12, 0);
        header[156] = (byte)type;
        "ustar\0"u8.CopyTo(header.AsSpan(257));
        "00"u8.CopyTo(header.AsSpan(263));
        "        "u8.CopyTo(header.AsSpan(148));
        var sum = header.Sum(b => b);
        Octal(header, 148, 7, sum);
        header[155] = (byte)' ';
        return header;
    }

    private static void Octal(byte[] header, int offset, int width, long value) =>
        Encoding.ASCII.GetBytes(Convert.ToString(value, 8).PadLeft(width - 1, '0')).CopyTo(header, offset);

    private async Task PadAsync(long length, CancellationToken cancellationToken)
    {
        var remainder = (int)(length % Block);
        if (remainder != 0)
        {
            await output.WriteAsync(new byte[Block - remainder], cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Written { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Written;

        public override long Position
        {
            get => Written;
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Written += count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Written += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
