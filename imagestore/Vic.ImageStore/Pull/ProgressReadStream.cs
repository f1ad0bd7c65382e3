namespace Vic.ImageStore.Pull;

/// <summary>Counts bytes as they are read and reports them at most every <c>step</c> bytes.</summary>
internal sealed class ProgressReadStream(Stream inner, long total, Action<long, long> report) : Registry.ForwardReadStream
{
    private const long Step = 512 * 1024;
    private long _read;
    private long _reported;

    public override long Length => total;

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Account(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Account(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Account(int read)
    {
        _read += read;
        if (_read - _reported >= Step || (read == 0 && _reported != _read))
        {
            _reported = _read;
            report(_read, total);
        }

        return read;
    }
}
