using System.Threading.Channels;

namespace Vic.Interaction;

/// <summary>
/// A tar stream sent as <see cref="FrameType.Data"/> frames on one request's session number;
/// <see cref="CompleteAsync"/> sends the <see cref="FrameType.DataEnd"/>. Synchronous writes are
/// allowed because <c>TarWriter</c> makes them.
/// </summary>
public sealed class DataWriteStream(FrameWriter writer, uint session) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public Task CompleteAsync(CancellationToken cancellationToken) =>
        writer.WriteAsync(FrameType.DataEnd, session, ReadOnlyMemory<byte>.Empty, cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) =>
        writer.WriteChunkedAsync(FrameType.Data, session, buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? ValueTask.CompletedTask : writer.WriteChunkedAsync(FrameType.Data, session, buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>
/// Reads a tar stream from the <see cref="FrameType.Data"/> frames of one request: ends at its
/// <see cref="FrameType.DataEnd"/>, fails with the peer's text at an <see cref="FrameType.Error"/>.
/// </summary>
public sealed class DataReadStream(ChannelReader<Frame> frames) : Stream
{
    private ReadOnlyMemory<byte> _pending;
    private bool _ended;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_pending.IsEmpty && !_ended)
        {
            if (!await frames.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new IOException("the channel closed in the middle of a file transfer");
            }

            var frame = await frames.ReadAsync(cancellationToken).ConfigureAwait(false);
            switch (frame.Type)
            {
                case FrameType.Data:
                    _pending = frame.Payload;
                    break;
                case FrameType.DataEnd:
                    _ended = true;
                    break;
                case FrameType.Error:
                    throw new PeerErrorException(Payloads.Text(frame.Payload));
                default:
                    throw new ProtocolException($"a {frame.Type} frame in the middle of a file transfer");
            }
        }

        if (_pending.IsEmpty)
        {
            return 0;
        }

        var count = Math.Min(buffer.Length, _pending.Length);
        _pending[..count].CopyTo(buffer);
        _pending = _pending[count..];
        return count;
    }

    public override void Flush()
    {
    }

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>The peer answered a request with an <see cref="FrameType.Error"/>; the message is its text.</summary>
public sealed class PeerErrorException(string message) : IOException(message);
