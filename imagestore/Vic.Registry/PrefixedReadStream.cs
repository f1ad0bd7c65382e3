namespace Vic.Registry;

/// <summary>Gives back the bytes peeked from a stream that cannot seek (to tell gzip from tar), then the rest of it.</summary>
public sealed class PrefixedReadStream(byte[] prefix, Stream rest) : ForwardReadStream
{
    private int _offset;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_offset < prefix.Length)
        {
            var n = Math.Min(buffer.Length, prefix.Length - _offset);
            prefix.AsSpan(_offset, n).CopyTo(buffer.Span);
            _offset += n;
            return ValueTask.FromResult(n);
        }

        return rest.ReadAsync(buffer, cancellationToken);
    }
}
