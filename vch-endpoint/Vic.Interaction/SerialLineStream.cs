namespace Vic.Interaction;

/// <summary>
/// Either end of a channel on a serial line (vSphere's COM1). Until the guest has set its line up,
/// what the endpoint sends comes back echoed and cooked (an Attach as <c>V^P^@...</c>), the UART may
/// add a stray byte, and the tether may find part of a frame sent before it opened the line. A
/// frame starts with the magic followed by its type, a raw control byte, which a cooked echo never
/// holds: everything before the first such pair is dropped, then the line is passed through as it is.
/// </summary>
public sealed class SerialLineStream(Stream line) : Stream
{
    private byte[] _held = [];
    private bool _synced;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!_synced)
        {
            var chunk = new byte[Math.Max(buffer.Length, 512)];
            var read = await line.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return 0;
            }

            _held = [.. _held, .. chunk.AsSpan(0, read)];
            var start = FrameStart(_held);
            if (start >= 0)
            {
                _synced = true;
                _held = _held[start..];
            }
            else
            {
                // Keep a trailing magic: its type byte may come with the next read.
                _held = _held.Length > 0 && _held[^1] == FrameCodec.Magic ? [FrameCodec.Magic] : [];
            }
        }

        if (_held.Length > 0)
        {
            var count = Math.Min(buffer.Length, _held.Length);
            _held.AsSpan(0, count).CopyTo(buffer.Span);
            _held = _held[count..];
            return count;
        }

        return await line.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Where the first frame starts: the magic, then a frame type (a control byte, never in a cooked echo).</summary>
    public static int FrameStart(ReadOnlySpan<byte> bytes)
    {
        for (var i = 0; i + 1 < bytes.Length; i++)
        {
            if (bytes[i] == FrameCodec.Magic && bytes[i + 1] is >= 0x01 and < 0x20 && Enum.IsDefined((FrameType)bytes[i + 1]))
            {
                return i;
            }
        }

        return -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => line.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => line.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => line.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => line.FlushAsync(cancellationToken);

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
