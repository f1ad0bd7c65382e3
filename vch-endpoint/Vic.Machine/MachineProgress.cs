namespace Vic.Machine;

/// <summary>
/// What vic-machine tells the operator as it goes: a line per finished step, and a bar for each
/// long one (an ISO upload, the wait for the endpoint). The base class prints nothing; the command
/// line's draws with Spectre.Console.
/// </summary>
public class MachineProgress
{
    public static MachineProgress Silent { get; } = new();

    /// <summary>A step is done.</summary>
    public virtual void Step(string text)
    {
    }

    /// <summary>Runs a long step, which reports how far it is out of <paramref name="total"/>.</summary>
    public virtual Task TrackAsync(string description, double total, Func<Action<double>, Task> work) => work(_ => { });
}

/// <summary>A read-only stream that reports how much of it has been read: an upload's progress.</summary>
public sealed class ProgressStream(Stream inner, Action<double> report) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => inner.CanSeek;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Counted(int read)
    {
        _read += read;
        report(_read);
        return read;
    }
}
