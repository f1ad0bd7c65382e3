namespace Vic.Tether;

/// <summary>
/// The VM's end of the channel. A virtio-serial port reads as end-of-file while nobody is connected
/// on the host side (before the endpoint connects, after an instant-clone restore, while the
/// endpoint restarts), so an end of file here means "wait for the endpoint", not "stop".
/// </summary>
internal sealed class PatientChannel(Stream port) : Stream
{
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

    public override int Read(byte[] buffer, int offset, int count)
    {
        while (true)
        {
            var read = port.Read(buffer, offset, count);
            if (read > 0 || count == 0)
            {
                return read;
            }

            Thread.Sleep(Pause);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var read = await port.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read > 0 || buffer.Length == 0)
            {
                return read;
            }

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
