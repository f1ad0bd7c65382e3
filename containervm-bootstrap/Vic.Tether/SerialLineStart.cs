using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// The start of a serial channel (vSphere's COM1): the UART may hold a stray byte from before the
/// line was set up or from the host side connecting. The endpoint's first frame starts with the
/// frame magic, so anything before the first magic byte is not the endpoint's and is dropped.
/// </summary>
internal sealed class SerialLineStart(Stream line) : Stream
{
    private bool _synced;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            var read = line.Read(buffer);
            if (read == 0 || _synced)
            {
                return read;
            }

            var start = buffer[..read].IndexOf(FrameCodec.Magic);
            if (start >= 0)
            {
                _synced = true;
                buffer[start..read].CopyTo(buffer);
                return read - start;
            }
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var read = await line.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0 || _synced)
            {
                return read;
            }

            var start = buffer.Span[..read].IndexOf(FrameCodec.Magic);
            if (start >= 0)
            {
                _synced = true;
                buffer[start..read].CopyTo(buffer);
                return read - start;
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => line.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => line.WriteAsync(buffer, offset, count, cancellationToken);

    public override Task FlushAsync(CancellationToken cancellationToken) => line.FlushAsync(cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => line.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> buffer) => line.Write(buffer);

    public override void Flush() => line.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            line.Dispose();
        }

        base.Dispose(disposing);
    }
}
