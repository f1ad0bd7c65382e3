namespace Vic.Disks.Ext4;

/// <summary>
/// Writes whole blocks at their place in the target. It never reads: the target may be a write-only
/// sparse disk stream, and blocks never written must read back as zeros.
/// </summary>
internal sealed class BlockTarget
{
    private readonly Stream _stream;
    private long _position = -1;

    public BlockTarget(Stream stream)
    {
        if (!stream.CanSeek || !stream.CanWrite)
        {
            throw new ArgumentException("the ext4 target must be seekable and writable", nameof(stream));
        }

        _stream = stream;
    }

    public void Write(long block, ReadOnlySpan<byte> data)
    {
        var offset = block * Ext4Layout.BlockSize;
        if (offset != _position)
        {
            _stream.Position = offset;
        }

        _stream.Write(data);
        _position = offset + data.Length;
    }

    /// <summary>Grows the target to the filesystem's size so the checker sees the whole device.</summary>
    public void Finish(long blockCount)
    {
        var length = blockCount * Ext4Layout.BlockSize;
        if (_stream.Length < length)
        {
            _stream.SetLength(length);
        }

        _stream.Flush();
    }
}
