using System.Net.Sockets;
using System.Threading.Channels;

namespace Vic.Interaction;

/// <summary>
/// The local end of a relayed connection: the client's socket at the endpoint, the server's in the
/// guest, or one UDP client's flow on a shared socket.
/// </summary>
public interface IRelayEnd : IDisposable
{
    /// <summary>Whether each piece is a datagram (UDP): kept whole, and never half-closed.</summary>
    bool Datagrams { get; }

    /// <summary>The next bytes (or datagram); 0 when the peer half-closed.</summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Sends all of <paramref name="data"/> (one datagram for UDP).</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Nothing more will be sent: a TCP half-close.</summary>
    void EndSending();
}

/// <summary>A connected socket as a relay's end.</summary>
public sealed class SocketRelayEnd(Socket socket) : IRelayEnd
{
    public bool Datagrams => socket.SocketType == SocketType.Dgram;

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        do
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
        while (!data.IsEmpty && !Datagrams);
    }

    public void EndSending() => socket.Shutdown(SocketShutdown.Send);

    public void Dispose() => socket.Dispose();
}

/// <summary>
/// One connection to a published port carried over a ContainerVM's channel as the frames of one
/// session number (<see cref="FrameType.Connect"/>); both sides run one, the endpoint with the
/// client's socket, the tether with the server's. Each side sends at most <see cref="Window"/> bytes
/// the other has not passed on yet, so a slow reader slows its writer instead of filling memory at
/// the far end of the channel, and one stalled connection never holds the channel up for the
/// container's other traffic (stdio, exec, stop).
/// </summary>
public sealed class ConnectionRelay(FrameWriter writer, uint session, IRelayEnd end, ChannelReader<Frame> incoming) : IDisposable
{
    /// <summary>Bytes in flight one way before the sender waits for the receiver's <see cref="FrameType.Window"/>.</summary>
    public const int Window = 256 * 1024;

    /// <summary>A datagram is read whole whatever the window left: a sender may be this far past it.</summary>
    private const int DatagramSlack = 65536;

    private readonly SemaphoreSlim _creditChanged = new(0);
    private long _credit = Window;

    // What the peer sent that the local end has not taken yet: a peer past its window is broken or hostile.
    private long _unacknowledged;

    /// <summary>
    /// Relays until both directions are half-closed, either side aborts, the channel ends or
    /// <paramref name="cancellationToken"/> fires (the container stops); the end is disposed after.
    /// </summary>
    /// <returns>Why it ended early, or null when both sides closed cleanly.</returns>
    public async Task<string?> RunAsync(CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var toEnd = Channel.CreateUnbounded<Frame>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var dispatching = DispatchAsync(toEnd.Writer, stop.Token);
        List<Task> directions = [ReadEndAsync(stop.Token), WriteEndAsync(toEnd.Reader, stop.Token)];
        string? failure = null;
        var peerEnded = false;
        try
        {
            while (directions.Count > 0)
            {
                var done = await Task.WhenAny([.. directions, dispatching]).ConfigureAwait(false);
                if (done.IsCompletedSuccessfully && done != dispatching)
                {
                    directions.Remove(done);
                    continue;
                }

                // The peer ended it (a Disconnect, an Error, the channel gone): it needs no
                // Disconnect back. Cancelled from here (the container stops), or a peer that broke
                // the protocol, does.
                peerEnded = done == dispatching && done.IsFaulted && done.Exception!.InnerException is not ProtocolException;
                failure = done.Exception?.InnerException?.Message ?? "cancelled";
                break;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            end.Dispose();
        }

        if (failure is not null && !peerEnded)
        {
            try
            {
                await writer.WriteAsync(FrameType.Disconnect, session, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // The channel is gone: so is the other side's half of this connection.
            }
        }

        await Task.WhenAll([.. directions, dispatching]).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        return failure;
    }

    public void Dispose() => _creditChanged.Dispose();

    /// <summary>The local end's bytes to the peer, within the peer's window; its half-close as a DataEnd.</summary>
    private async Task ReadEndAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[end.Datagrams ? 65536 : FrameWriter.AtomicPayload];
        while (true)
        {
            while (Interlocked.Read(ref _credit) <= 0)
            {
                await _creditChanged.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            // A datagram is read whole whatever the window says: the window only paces the next.
            var room = end.Datagrams ? buffer.Length : (int)Math.Min(buffer.Length, Interlocked.Read(ref _credit));
            var count = await end.ReceiveAsync(buffer.AsMemory(0, room), cancellationToken).ConfigureAwait(false);
            if (count == 0 && !end.Datagrams)
            {
                await writer.WriteAsync(FrameType.DataEnd, session, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
                return;
            }

            Interlocked.Add(ref _credit, -count);
            await writer.WriteAsync(FrameType.Data, session, buffer.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The peer's bytes to the local end, each piece acknowledged once written; its DataEnd as a half-close.</summary>
    private async Task WriteEndAsync(ChannelReader<Frame> frames, CancellationToken cancellationToken)
    {
        await foreach (var frame in frames.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (frame.Type == FrameType.DataEnd)
            {
                if (!end.Datagrams)
                {
                    end.EndSending();
                }

                return;
            }

            await end.SendAsync(frame.Payload, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _unacknowledged, -frame.Payload.Length);
            await writer.WriteAsync(FrameType.Window, session, Payloads.Int32(frame.Payload.Length), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sorts the peer's frames: windows at once (never behind a write the local end is slow to
    /// take), bytes and the half-close to the writer; ends in an exception when the peer aborts or
    /// the channel goes, and never on its own otherwise.
    /// </summary>
    private async Task DispatchAsync(ChannelWriter<Frame> toEnd, CancellationToken cancellationToken)
    {
        await foreach (var frame in incoming.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (frame.Type)
            {
                case FrameType.Window:
                    var granted = Payloads.Int32(frame.Payload);
                    if (granted is < 0 or > Window)
                    {
                        throw new ProtocolException($"a window of {granted} bytes on a relayed connection");
                    }

                    Interlocked.Add(ref _credit, granted);
                    _creditChanged.Release();
                    break;
                case FrameType.Data when Interlocked.Add(ref _unacknowledged, frame.Payload.Length) > Window + DatagramSlack:
                    throw new ProtocolException("the other side sent past its window on a relayed connection");
                case FrameType.Data or FrameType.DataEnd:
                    toEnd.TryWrite(frame);
                    break;
                case FrameType.Disconnect:
                    throw new IOException("the other side ended the connection");
                case FrameType.Error:
                    throw new PeerErrorException(Payloads.Text(frame.Payload));
                default:
                    throw new ProtocolException($"a {frame.Type} frame on a relayed connection");
            }
        }

        throw new IOException("the channel ended");
    }
}
