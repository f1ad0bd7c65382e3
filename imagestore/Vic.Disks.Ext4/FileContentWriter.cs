namespace Vic.Disks.Ext4;

/// <summary>
/// Streams a file's content straight to freshly allocated data blocks. Blocks that are all zeros are
/// not written and not allocated: they become holes, so sparse files (and long runs of zeros) cost
/// nothing in the image.
/// </summary>
internal sealed class FileContentWriter(BlockAllocator allocator, BlockTarget target)
{
    private const int BlockSize = Ext4Layout.BlockSize;

    /// <summary>The largest file extents can map: 2^32 blocks.</summary>
    public const long MaxLength = (long)uint.MaxValue * BlockSize;

    private readonly byte[] _buffer = new byte[256 * BlockSize];

    /// <summary>Reads exactly <paramref name="length"/> bytes; on failure gives back what it allocated.</summary>
    public ExtentListBuilder Write(Stream content, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxLength);
        var extents = new ExtentListBuilder();
        try
        {
            long logical = 0;
            var remaining = length;
            while (remaining > 0)
            {
                var read = (int)Math.Min(_buffer.Length, remaining);
                content.ReadExactly(_buffer, 0, read);
                remaining -= read;
                var blocks = (read + BlockSize - 1) / BlockSize;
                _buffer.AsSpan(read, (blocks * BlockSize) - read).Clear();
                WriteChunk(_buffer.AsSpan(0, blocks * BlockSize), logical, extents);
                logical += blocks;
            }
        }
        catch
        {
            allocator.Free(extents.Extents);
            throw;
        }

        return extents;
    }

    private void WriteChunk(ReadOnlySpan<byte> chunk, long logical, ExtentListBuilder extents)
    {
        var blocks = chunk.Length / BlockSize;
        var i = 0;
        while (i < blocks)
        {
            if (IsZero(chunk, i))
            {
                i++;
                continue;
            }

            var end = i + 1;
            while (end < blocks && !IsZero(chunk, end))
            {
                end++;
            }

            while (i < end)
            {
                var (start, count) = allocator.Allocate(end - i);
                target.Write(start, chunk.Slice(i * BlockSize, count * BlockSize));
                extents.Add(logical + i, start, count);
                i += count;
            }
        }
    }

    private static bool IsZero(ReadOnlySpan<byte> chunk, int block) =>
        !chunk.Slice(block * BlockSize, BlockSize).ContainsAnyExcept((byte)0);
}
