using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Vic.Interaction;

namespace Vic.Tether;

/// <summary>
/// The guest's side of published ports the endpoint relays (<see cref="FrameType.Connect"/>): each
/// connection is made to the container's bridge address, as dockerd's proxy makes it to the
/// container's IP (a server listening on loopback only is not published), then relayed on its
/// session number beside the frame loop.
/// </summary>
internal sealed class GuestPortRelays(FrameWriter writer)
{
    private readonly ConcurrentDictionary<uint, Channel<Frame>> _relays = new();

    /// <summary>Connects to the port and answers Done (then relays) or Error; never blocks the frame loop.</summary>
    /// <param name="address">The container's address to connect to; null when it has none (<c>--network none</c>): refused.</param>
    public void Connect(uint session, PortConnect request, IPAddress? address)
    {
        var frames = Channel.CreateUnbounded<Frame>(new UnboundedChannelOptions { SingleReader = true });
        if (!_relays.TryAdd(session, frames))
        {
            _ = SendQuietlyAsync(FrameType.Error, session, Payloads.Text($"invalid: session {session} already carries a connection"));
            return;
        }

        _ = Task.Run(async () =>
        {
            Socket? socket = null;
            try
            {
                var udp = request.Protocol == "udp";
                if ((!udp && request.Protocol != "tcp") || request.Port is < 1 or > 65535)
                {
                    throw new ArgumentException($"invalid: cannot connect to {request.Port}/{request.Protocol}");
                }

                var target = new IPEndPoint(address ?? throw new ArgumentException("the container has no network address to publish ports on"), request.Port);
                socket = new Socket(target.AddressFamily, udp ? SocketType.Dgram : SocketType.Stream, udp ? ProtocolType.Udp : ProtocolType.Tcp);
                using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
                {
                    await socket.ConnectAsync(target, limit.Token).ConfigureAwait(false);
                }

                if (!udp)
                {
                    // Small requests and answers go at once, as dockerd's proxy sends them.
                    socket.NoDelay = true;
                }
            }
            catch (Exception ex) when (ex is SocketException or ArgumentException or OperationCanceledException)
            {
                socket?.Dispose();
                _relays.TryRemove(new KeyValuePair<uint, Channel<Frame>>(session, frames));
                await SendQuietlyAsync(FrameType.Error, session, Payloads.Text(ex is OperationCanceledException ? "connection timed out" : ex.Message)).ConfigureAwait(false);
                return;
            }

            try
            {
                await SendQuietlyAsync(FrameType.Done, session, []).ConfigureAwait(false);
                using var relay = new ConnectionRelay(writer, session, new SocketRelayEnd(socket), frames.Reader);
                await relay.RunAsync(CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _relays.TryRemove(new KeyValuePair<uint, Channel<Frame>>(session, frames));
            }
        });
    }

    /// <summary>Hands the frame to its connection; false when it belongs to none (a file transfer, or a connection already over).</summary>
    public bool Deliver(Frame frame) => _relays.TryGetValue(frame.Session, out var relay) && relay.Writer.TryWrite(frame);

    /// <summary>Whether the session number is a relayed connection's.</summary>
    public bool Owns(uint session) => _relays.ContainsKey(session);

    /// <summary>
    /// A new endpoint connection (a reconnect, or an endpoint that restarted and says Attach): the
    /// clients of the one before went with it, so every connection ends, and the session numbers
    /// they held are free for the new one.
    /// </summary>
    public void EndAll()
    {
        foreach (var session in _relays.Keys.ToList())
        {
            if (_relays.TryRemove(session, out var relay))
            {
                relay.Writer.TryComplete(new IOException("the endpoint went away"));
            }
        }
    }

    private async Task SendQuietlyAsync(FrameType type, uint session, byte[] payload)
    {
        try
        {
            await writer.WriteAsync(type, session, payload, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The endpoint is away; it learns nothing of a connection whose client went with it.
        }
    }
}
