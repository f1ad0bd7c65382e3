namespace Vic.Tether;

/// <summary>
/// The VM's end of the channel. A virtio-serial port reads as end-of-file while nobody is connected
/// on the host side (before the endpoint connects, after an instant-clone restore, while the
/// endpoint restarts), so an end of file here means "wait for the endpoint", not "stop".
/// </summary>
internal sealed class PatientChannel(Stream port, bool signalReconnects = false) : Stream
{
    private byte[] _held = [];
    private bool _hostWasGone;

    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(2);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_held.Length > 0)
        {
            var given = Math.Min(_held.Length, buffer.Length);
            _held.AsSpan(0, given).CopyTo(buffer.Span);
            _held = _held[given..];
            return given;
        }

        while (true)
        {
            var read = await port.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read > 0 && signalReconnects && _hostWasGone)
            {
                // The first bytes of a new connection: whatever frame the last one left half sent is
                // dropped by the reader, which starts afresh from these (held for it).
                _hostWasGone = false;
                _held = buffer[..read].ToArray();
                throw new HostReconnectedException();
            }

            if (read > 0 || buffer.Length == 0)
            {
                return read;
            }

            // Nothing and no end: the host is not connected (a virtio port reads 0 then).
            _hostWasGone = true;
            await Task.Delay(Pause, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => port.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => port.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        port.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Flush() => port.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            port.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// The channel's host side went away and a new one is there: a frame the old one left half written
/// must not swallow the new one's first frames.
/// </summary>
internal sealed class HostReconnectedException() : IOException("the endpoint reconnected to the channel");
