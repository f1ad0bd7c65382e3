using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Vic.Interaction;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Networks;

namespace Vic.PortLayer.Runtime;

/// <summary>
/// Published ports on a backend that does not forward them (vSphere): the endpoint listens on each
/// host port while the container runs, as dockerd's userland proxy does, and carries every
/// connection (or UDP client) to the guest over the container's tether channel
/// (<see cref="FrameType.Connect"/>), where the tether connects to the container's address. The
/// endpoint needs no route to the ContainerVM's networks: wherever it runs (beside vic-machine, or
/// in the VCH's appliance), the ports are on its own addresses.
/// </summary>
internal sealed partial class PublishedPortRelays(ContainerRuntimeTable runtime, ILogger logger) : IDisposable
{
    /// <summary>How long a UDP client's flow lives without a datagram either way (dockerd's proxy waits 90 s).</summary>
    private static readonly TimeSpan UdpFlowIdle = TimeSpan.FromSeconds(90);

    /// <summary>UDP clients one published port serves at once; datagrams of more are dropped, as a full conntrack table drops them.</summary>
    private const int MaxUdpFlows = 256;

    /// <summary>TCP connections and UDP flows one container's published ports relay at once.</summary>
    private const int MaxConnections = 512;

    private readonly ConcurrentDictionary<string, Listeners> _open = new();

    /// <summary>
    /// Binds the container's published ports for as long as <paramref name="run"/> lasts; a port
    /// another process holds fails with dockerd's words and binds none.
    /// </summary>
    /// <exception cref="PortLayerException">A port is taken, or the tether is too old to relay.</exception>
    public void Open(ContainerRecord record, RunningContainer run)
    {
        Close(record.Id);
        if (record.Ports.Count == 0)
        {
            return;
        }

        if (run.TetherVersion < TetherProtocol.RelaysPorts)
        {
            throw new PortLayerException(ErrorKind.System, $"the ContainerVM of {record.Name} runs a tether (protocol {run.TetherVersion}) that cannot take published ports: its VM was made from an older ISO (remove the VCH's parent and template VMs to have them made again)");
        }

        var listeners = new Listeners();
        try
        {
            foreach (var port in record.Ports)
            {
                listeners.Sockets.Add(Bind(record, port));
            }
        }
        catch
        {
            listeners.Dispose();
            throw;
        }

        foreach (var (socket, port) in listeners.Sockets.Zip(record.Ports))
        {
            listeners.Loops.Add(port.Protocol == "udp"
                ? Task.Run(() => ServeUdpAsync(record.Id, listeners, socket, port, listeners.Stop.Token))
                : Task.Run(() => AcceptAsync(record.Id, listeners, socket, port, listeners.Stop.Token)));
        }

        if (!_open.TryAdd(record.Id, listeners))
        {
            listeners.Dispose();
            return;
        }

        // The ports go with the run, whoever notices its end first (a run that ended while they
        // were bound closes them at once).
        run.Ending.Register(() => CloseIfSame(record.Id, listeners));
    }

    private void CloseIfSame(string containerId, Listeners listeners)
    {
        if (_open.TryRemove(new KeyValuePair<string, Listeners>(containerId, listeners)))
        {
            listeners.Dispose();
        }
    }

    /// <summary>Stops listening on the container's ports and ends their connections: its run ended, or it is removed.</summary>
    public void Close(string containerId)
    {
        if (_open.TryRemove(containerId, out var listeners))
        {
            listeners.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var id in _open.Keys.ToList())
        {
            Close(id);
        }
    }

    private static Socket Bind(ContainerRecord record, PublishedPort port)
    {
        var address = port.HostIp.Length == 0 ? IPAddress.Any : IPAddress.Parse(port.HostIp);
        var udp = port.Protocol == "udp";
        var socket = new Socket(address.AddressFamily, udp ? SocketType.Dgram : SocketType.Stream, udp ? ProtocolType.Udp : ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port.HostPort));
            if (!udp)
            {
                socket.Listen(128);
            }

            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new PortLayerException(ErrorKind.System, $"driver failed programming external connectivity on endpoint {record.Name} ({record.Id}): Bind for {port.HostIp}:{port.HostPort} failed: {(ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? "port is already allocated" : ex.Message)}");
        }
    }

    private async Task AcceptAsync(string containerId, Listeners listeners, Socket listener, PublishedPort port, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // A client that reset before it was taken, or no descriptor free for a moment:
                // the port stays published, as accept(2) asks of its callers.
                Log.AcceptFailed(logger, containerId, port.HostPort, ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            try
            {
                client.NoDelay = true;
            }
            catch (SocketException)
            {
                // Reset before it was taken: nothing to relay.
                client.Dispose();
                continue;
            }

            if (Interlocked.Increment(ref listeners.Connections) > MaxConnections)
            {
                // Each connection holds a socket in the guest's PID 1: past this many, exec and cp
                // would run out of descriptors. Refused as a full backlog refuses.
                Interlocked.Decrement(ref listeners.Connections);
                client.Dispose();
                continue;
            }

            _ = Task.Run(
                async () =>
                {
                    try
                    {
                        await RelayAsync(containerId, port, new SocketRelayEnd(client), stop).ConfigureAwait(false);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref listeners.Connections);
                    }
                },
                CancellationToken.None);
        }
    }

    /// <summary>One connection (or UDP flow) to the guest: refused by closing it, as dockerd's proxy does, when the container's port takes nothing.</summary>
    private async Task RelayAsync(string containerId, PublishedPort port, IRelayEnd client, CancellationToken stop)
    {
        if (runtime.RunningOf(containerId) is not { } running)
        {
            client.Dispose();
            return;
        }

        var tether = running.Tether;
        var (session, frames) = tether.OpenStream();
        var asked = false;
        try
        {
            using var relayStop = CancellationTokenSource.CreateLinkedTokenSource(stop, running.Ending);
            await tether.SendAsync(FrameType.Connect, session, Payloads.Json(new PortConnect(port.Protocol, port.ContainerPort), InteractionJson.Default.PortConnect), relayStop.Token).ConfigureAwait(false);
            asked = true;
            var answer = await frames.ReadAsync(relayStop.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(30), relayStop.Token).ConfigureAwait(false);
            if (answer.Type != FrameType.Done)
            {
                Log.Refused(logger, containerId, port.ContainerPort, port.Protocol, answer.Type == FrameType.Error ? Payloads.Text(answer.Payload) : answer.Type.ToString());
                client.Dispose();
                return;
            }

            using var relay = new ConnectionRelay(tether.Writer, session, client, frames);
            var failure = await relay.RunAsync(relayStop.Token).ConfigureAwait(false);
            if (failure is not null)
            {
                Log.Ended(logger, containerId, port.HostPort, failure);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or TimeoutException or System.Threading.Channels.ChannelClosedException)
        {
            client.Dispose();
            if (asked)
            {
                // An answer still to come would start a connection in the guest nobody relays.
                await DisconnectQuietlyAsync(tether, session).ConfigureAwait(false);
            }
        }
        finally
        {
            tether.CloseStream(session);
        }
    }

    private static async Task DisconnectQuietlyAsync(TetherConnection tether, uint session)
    {
        try
        {
            await tether.SendAsync(FrameType.Disconnect, session, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The channel is gone, and the guest's half of the connection with it.
        }
    }

    /// <summary>UDP: one flow to the guest per client address, ended after <see cref="UdpFlowIdle"/> without a datagram.</summary>
    private async Task ServeUdpAsync(string containerId, Listeners listeners, Socket socket, PublishedPort port, CancellationToken stop)
    {
        var flows = new ConcurrentDictionary<EndPoint, UdpFlow>();
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // An ICMP port-unreachable from an earlier reply's client: not this socket's end.
                continue;
            }

            // This loop alone adds flows; a flow's task removes only itself, once it is in the map.
            var datagram = buffer.AsSpan(0, received.ReceivedBytes).ToArray();
            var remote = received.RemoteEndPoint;
            if (!flows.TryGetValue(remote, out var flow) || !flow.Offer(datagram))
            {
                // A flow holds a socket in the guest as a TCP connection does: both count against the container's cap.
                if (flows.Count >= MaxUdpFlows)
                {
                    continue;
                }

                if (Interlocked.Increment(ref listeners.Connections) > MaxConnections)
                {
                    Interlocked.Decrement(ref listeners.Connections);
                    continue;
                }

                var made = new UdpFlow(socket, remote, UdpFlowIdle);
                flows[remote] = made;
                made.Offer(datagram);
                _ = Task.Run(
                    async () =>
                    {
                        try
                        {
                            await RelayAsync(containerId, port, made, stop).ConfigureAwait(false);
                        }
                        finally
                        {
                            made.Dispose();
                            flows.TryRemove(new KeyValuePair<EndPoint, UdpFlow>(remote, made));
                            Interlocked.Decrement(ref listeners.Connections);
                        }
                    },
                    CancellationToken.None);
            }
        }
    }

    /// <summary>One container's listening sockets and the loops that serve them.</summary>
    private sealed class Listeners : IDisposable
    {
        public List<Socket> Sockets { get; } = [];

        public List<Task> Loops { get; } = [];

        public CancellationTokenSource Stop { get; } = new();

        /// <summary>TCP connections and UDP flows relayed now, across the container's ports.</summary>
        public int Connections;

        public void Dispose()
        {
            Stop.Cancel();
            foreach (var socket in Sockets)
            {
                socket.Dispose();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "container {Id}: a connection to its port {Port}/{Protocol} was refused in the guest: {Why}")]
        public static partial void Refused(ILogger logger, string id, int port, string protocol, string why);

        [LoggerMessage(EventId = 2021, Level = LogLevel.Debug, Message = "container {Id}: a connection to host port {Port} ended early: {Why}")]
        public static partial void Ended(ILogger logger, string id, int port, string why);

        [LoggerMessage(EventId = 2022, Level = LogLevel.Warning, Message = "container {Id}: host port {Port} could not take a connection: {Why}")]
        public static partial void AcceptFailed(ILogger logger, string id, int port, string why);
    }
}

/// <summary>
/// One UDP client of a published port, as a relay's end: its datagrams come from the port's shared
/// socket, answers go back to its address; it ends once no datagram went either way for <c>idle</c>.
/// </summary>
internal sealed class UdpFlow(Socket socket, EndPoint remote, TimeSpan idle) : IRelayEnd
{
    // A guest slower than its clients loses the oldest datagrams, as a full socket buffer would.
    private readonly System.Threading.Channels.Channel<byte[]> _queue = System.Threading.Channels.Channel.CreateBounded<byte[]>(
        new System.Threading.Channels.BoundedChannelOptions(1024) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropOldest, SingleReader = true });

    private long _lastActivity = Environment.TickCount64;

    public bool Datagrams => true;

    /// <summary>A datagram from the client; false when the flow is over.</summary>
    public bool Offer(byte[] datagram)
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        return _queue.Writer.TryWrite(datagram);
    }

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(idle);
            try
            {
                var datagram = await _queue.Reader.ReadAsync(limit.Token).ConfigureAwait(false);
                var count = Math.Min(datagram.Length, buffer.Length);
                datagram.AsSpan(0, count).CopyTo(buffer.Span);
                return count;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                if (Environment.TickCount64 - Volatile.Read(ref _lastActivity) >= (long)idle.TotalMilliseconds)
                {
                    _queue.Writer.TryComplete();
                    throw new TimeoutException("the UDP flow was idle");
                }
            }
        }
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        await socket.SendToAsync(data, SocketFlags.None, remote, cancellationToken).ConfigureAwait(false);
    }

    public void EndSending()
    {
    }

    public void Dispose() => _queue.Writer.TryComplete();
}
