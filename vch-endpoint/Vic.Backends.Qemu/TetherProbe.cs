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
    /// Has a template's tether rehearse a start (<see cref="FrameType.Rehearse"/>) and waits until it
    /// has said everything about it (its process's exit and the Done); false if that does not come in time.
    /// </summary>
    /// <param name="network">NICs to bring up in the rehearsal: only for a VM whose start will give it a network.</param>
    /// <param name="disks">The rehearsal's scratch disk, at <see cref="Frame.RehearsalDiskTarget"/>; none rehearses on tmpfs.</param>
    public static async Task<bool> RehearseAsync(Stream channel, TimeSpan timeout, CancellationToken cancellationToken, NetworkSpec? network = null, IReadOnlyList<DiskSpec>? disks = null)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var spec = new ContainerSpec
        {
            Id = "template-rehearsal",
            Args = ["true"],
            Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=rehearsal"],
            Hostname = "rehearsal",
            ExtraHosts = ["rehearsal-peer:10.0.0.2"],
            Dns = ["10.0.2.3"],
            EntropySeed = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            Network = network,
            Disks = disks ?? [],
        };
        using var tether = new TetherConnection(channel);
        try
        {
            await tether.SendAsync(FrameType.Rehearse, 1, Payloads.Json(spec, InteractionJson.Default.ContainerSpec), limit.Token).ConfigureAwait(false);
            bool done = false, exited = false;
            while (!(done && exited) && await tether.ReadAsync(limit.Token).ConfigureAwait(false) is { } frame)
            {
                done |= frame.Type == FrameType.Done && frame.Session == 1;
                exited |= frame.Type == FrameType.Exit && frame.Session == Frame.RehearsalSession;
                if (frame.Type == FrameType.Error)
                {
                    return false;
                }
            }

            return done && exited;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
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
        using var tether = new TetherConnection(channel);
        try
        {
            while (await tether.ReadAsync(limit.Token).ConfigureAwait(false) is { } frame)
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

    /// <summary>Asks a restored clone's tether who it is (Attach); null if it does not say hello in time.</summary>
    public static async Task<HelloMessage?> AttachAsync(Stream channel, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var tether = new TetherConnection(channel);
        try
        {
            return (await tether.AttachAndReadAsync(timeout, cancellationToken).ConfigureAwait(false)).Hello;
        }
        catch (Exception ex) when (ex is TimeoutException or TetherClosedException)
        {
            return null;
        }
    }
}
