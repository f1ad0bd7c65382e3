namespace Vic.Disks.Ext4.Tests;

/// <summary>
/// A read-only stream of <c>length</c> bytes made on the fly, so tests can stream gigabytes without
/// holding them and know what must come back: blocks for which <c>zeroBlock</c> says so are zeros,
/// every other byte is <see cref="Byte"/> of its offset.
/// </summary>
internal sealed class PatternStream(long length, Func<long, bool> zeroBlock) : Stream
{
    private const int BlockSize = 4096;
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Data in every block.</summary>
    public static PatternStream Dense(long length) => new(length, _ => false);

    /// <summary>A non-zero byte pattern that differs from block to block.</summary>
    public static byte Byte(long offset) => (byte)((offset * 31) + (offset >> 12) + 1);

    /// <summary>What the stream yields at <paramref name="offset"/>.</summary>
    public byte Expected(long offset) => zeroBlock(offset / BlockSize) ? (byte)0 : Byte(offset);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var count = (int)Math.Min(buffer.Length, length - _position);
        var done = 0;
        while (done < count)
        {
            var at = _position + done;
            var piece = (int)Math.Min(count - done, BlockSize - (at % BlockSize));
            var target = buffer.Slice(done, piece);
            if (zeroBlock(at / BlockSize))
            {
                target.Clear();
            }
            else
            {
                for (var i = 0; i < piece; i++)
                {
                    target[i] = Byte(at + i);
                }
            }

            done += piece;
        }

        _position += count;
        return count;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
