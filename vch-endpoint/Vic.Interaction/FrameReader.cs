namespace Vic.Interaction;

/// <summary>Reads frames off a byte stream, one at a time; not thread-safe (one reader per stream).</summary>
public sealed class FrameReader(Stream stream)
{
    private readonly byte[] _header = new byte[FrameCodec.HeaderLength];

    /// <summary>The next frame, or null at a clean end of stream (between frames).</summary>
    public async ValueTask<Frame?> ReadAsync(CancellationToken cancellationToken)
    {
        var got = await stream.ReadAtLeastAsync(_header, _header.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == 0)
        {
            return null;
        }

        if (got < _header.Length)
        {
            throw new ProtocolException($"stream ended inside a frame header ({got} of {_header.Length} bytes)");
        }

        var (type, session, length) = FrameCodec.ReadHeader(_header);
        var payload = new byte[length];
        got = await stream.ReadAtLeastAsync(payload, length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got < length)
        {
            throw new ProtocolException($"stream ended inside a {type} payload ({got} of {length} bytes)");
        }

        return new Frame(type, session, payload);
    }
}
