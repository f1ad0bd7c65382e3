namespace Vic.Interaction;

/// <summary>
/// Writes frames to a byte stream. Many sessions write concurrently; each frame goes out whole
/// (header and payload under one lock) so frames never interleave.
/// </summary>
/// <remarks>
/// Header and payload leave in one write: a virtio-serial port carries each write as one buffer
/// (up to 32 KiB), and a buffer caught in flight when the host side disconnects is dropped whole.
/// Two writes could lose the header and deliver the payload to the next connection, which then
/// reads garbage.
/// </remarks>
public sealed class FrameWriter(Stream stream) : IDisposable
{
    /// <summary>The largest payload that still leaves the guest as one virtio buffer with its header.</summary>
    public const int AtomicPayload = (32 * 1024) - FrameCodec.HeaderLength;

    // Never disposed: a disposed SemaphoreSlim strands the writers queued on it (they wait for
    // ever) and throws from the holder's Release; a closed writer fails them instead.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _closed;

    public async ValueTask WriteAsync(FrameType type, uint session, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var frame = System.Buffers.ArrayPool<byte>.Shared.Rent(FrameCodec.HeaderLength + payload.Length);
        try
        {
            FrameCodec.WriteHeader(frame, type, session, payload.Length);
            payload.CopyTo(frame.AsMemory(FrameCodec.HeaderLength));
            ObjectDisposedException.ThrowIf(_closed, this);
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ObjectDisposedException.ThrowIf(_closed, this);

                // Never cancelled once begun: a frame cut short leaves the peer reading the next
                // frame's bytes as the rest of this one, and the whole channel is lost. A caller that
                // gives up (a relay's client went away) gives up before the frame, in the wait above.
                await stream.WriteAsync(frame.AsMemory(0, FrameCodec.HeaderLength + payload.Length), CancellationToken.None).ConfigureAwait(false);
                await stream.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>Closes the writer: a write under way finishes, every later or queued one throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _closed = true;

    /// <summary>Writes a large buffer as several frames no bigger than the protocol allows.</summary>
    public async ValueTask WriteChunkedAsync(FrameType type, uint session, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        const int Chunk = AtomicPayload;
        for (var offset = 0; offset < data.Length; offset += Chunk)
        {
            await WriteAsync(type, session, data.Slice(offset, Math.Min(Chunk, data.Length - offset)), cancellationToken).ConfigureAwait(false);
        }
    }
}
