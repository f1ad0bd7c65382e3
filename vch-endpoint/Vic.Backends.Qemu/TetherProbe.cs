using System.Net.Sockets;
using Vic.Interaction;

namespace Vic.Backends.Qemu;

/// <summary>Connects to a VM's channel socket and waits for the tether's boot Hello.</summary>
internal static class TetherProbe
{
    public static async Task<Stream> ConnectAsync(string channelPath, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(channelPath), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Waits for the Hello a freshly booted tether sends on its own; false if it does not come in
    /// time. Nothing is asked: a template must be frozen with no answer still on its way out of
    /// the guest, or its clones would inherit it half-sent.
    /// </summary>
    public static async Task<HelloMessage?> WaitForHelloAsync(Stream channel, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var reader = new FrameReader(channel);
        try
        {
            while (await reader.ReadAsync(limit.Token).ConfigureAwait(false) is { } frame)
            {
                if (frame.Type == FrameType.Hello)
                {
                    return Payloads.Json(frame.Payload, InteractionJson.Default.HelloMessage);
                }
            }

            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }
}
