namespace Vic.Interaction;

/// <summary>
/// Writes frames to a byte stream. Many sessions write concurrently; each frame goes out whole
/// (header and payload under one lock) so frames never interleave.
/// </summary>
public sealed class FrameWriter(Stream stream) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async ValueTask WriteAsync(FrameType type, uint session, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new byte[FrameCodec.HeaderLength];
        FrameCodec.WriteHeader(header, type, session, payload.Length);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            if (!payload.IsEmpty)
            {
                await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            }

            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>Writes a large buffer as several frames no bigger than the protocol allows.</summary>
    public async ValueTask WriteChunkedAsync(FrameType type, uint session, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        const int Chunk = 64 * 1024;
        for (var offset = 0; offset < data.Length; offset += Chunk)
        {
            await WriteAsync(type, session, data.Slice(offset, Math.Min(Chunk, data.Length - offset)), cancellationToken).ConfigureAwait(false);
        }
    }
}
