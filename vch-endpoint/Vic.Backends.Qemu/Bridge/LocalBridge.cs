using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Vic.PortLayer.Compute;

namespace Vic.Backends.Qemu.Bridge;

/// <summary>
/// The bridge segment of a local VCH: a switch on a Unix datagram socket. Each ContainerVM's
/// bridge NIC is a QEMU <c>dgram</c> netdev that sends every Ethernet frame as one datagram here
/// and receives on a socket in its own folder. Stateless towards QEMU, so a restarted endpoint
/// simply binds the socket again and VMs carry on. Frames only pass between ports that share a
/// network; the bridge itself is every network's gateway (ARP, ping, DNS).
/// </summary>
public sealed partial class LocalBridge : IBridgeFabric, IDisposable
{
    /// <summary>The MAC the gateway answers with on every network.</summary>
    public static readonly byte[] GatewayMac = [0x02, 0x56, 0x49, 0x43, 0x00, 0x01];

    private readonly Func<string, string> _peerPath;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly ConcurrentDictionary<ulong, Port> _byMac = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly IPEndPoint? _upstream;

    /// <param name="socketPath">Where the switch listens.</param>
    /// <param name="peerPath">A container's NIC socket, by container id: ports are known before they speak.</param>
    public LocalBridge(string socketPath, Func<string, string> peerPath, ILogger logger, IPEndPoint? upstreamDns = null)
    {
        _peerPath = peerPath;
        _logger = logger;
        _upstream = upstreamDns ?? HostNameserver();
        SocketPath = socketPath;
        File.Delete(socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        _loop = Task.Run(ReceiveLoopAsync);
    }

    public string SocketPath { get; }

    public IBridgeResolver? Resolver { get; set; }

    public void Join(BridgePort port)
    {
        foreach (var stale in _byMac.Where(p => p.Value.Info.ContainerId == port.ContainerId).Select(p => p.Key))
        {
            _byMac.TryRemove(stale, out _);
        }

        _byMac[EthernetFrames.MacKey(EthernetFrames.ParseMac(port.Mac))] = new Port(port, new UnixDomainSocketEndPoint(_peerPath(port.ContainerId)));
        Log.Joined(_logger, port.ContainerId, port.Mac, string.Join(", ", port.Addresses.Select(a => $"{a.Address}/{a.PrefixLength}")));
    }

    public void Leave(string containerId)
    {
        foreach (var mac in _byMac.Where(p => p.Value.Info.ContainerId == containerId).Select(p => p.Key))
        {
            _byMac.TryRemove(mac, out _);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // The loop ends by its socket closing under it.
        }

        File.Delete(SocketPath);
        _stop.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[65536];
        var any = new UnixDomainSocketEndPoint(SocketPath);
        while (!_stop.IsCancellationRequested)
        {
            int length;
            try
            {
                length = (await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false)).ReceivedBytes;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                Log.ReceiveFailed(_logger, ex.Message);
                continue;
            }

            if (length >= EthernetFrames.HeaderLength)
            {
                try
                {
                    Switch(buffer.AsMemory(0, length).ToArray());
                }
                catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or FormatException)
                {
                    // A malformed frame from a guest is dropped, never the switch.
                    Log.FrameDropped(_logger, ex.Message);
                }
            }
        }
    }

    /// <summary>Delivers one frame from a port: to us (the gateway), to one port, or to every port on the sender's network.</summary>
    private void Switch(byte[] frame)
    {
        if (!_byMac.TryGetValue(EthernetFrames.MacKey(EthernetFrames.Source(frame)), out var sender))
        {
            return;
        }

        BridgeAddress? network;
        switch (EthernetFrames.EtherType(frame))
        {
            case EthernetFrames.Arp when frame.Length >= EthernetFrames.HeaderLength + 28:
                network = sender.AddressOf(EthernetFrames.ArpSenderIp(frame));
                if (network is null)
                {
                    return;
                }

                if (EthernetFrames.IsArpRequest(frame) && EthernetFrames.ArpTargetIp(frame) == EthernetFrames.ToUInt(network.Gateway))
                {
                    Send(sender, EthernetFrames.ArpReply(frame, GatewayMac));
                    return;
                }

                break;
            case EthernetFrames.Ipv4 when EthernetFrames.IsIpv4(frame):
                network = sender.AddressOf(EthernetFrames.Ipv4Source(frame));
                if (network is null)
                {
                    return;
                }

                if (EthernetFrames.Destination(frame).SequenceEqual(GatewayMac))
                {
                    AnswerAsGateway(sender, network, frame);
                    return;
                }

                break;
            case EthernetFrames.Ipv6 when EthernetFrames.IsIpv6(frame):
                // Only from a port's own global address: link-local and unspecified sources (router
                // and duplicate-address probes) cannot be told to a network, so they stay on the port.
                // Neighbour discovery goes to solicited-node multicast, delivered as broadcast is.
                // The bridge answers nothing for an IPv6 gateway: containers reach one another.
                network = sender.AddressOf(EthernetFrames.Ipv6Source(frame));
                if (network is null)
                {
                    return;
                }

                break;
            default:
                return;
        }

        if (EthernetFrames.IsBroadcast(frame))
        {
            foreach (var port in _byMac.Values.Where(p => p != sender && p.IsOn(network.NetworkId)))
            {
                Send(port, frame);
            }
        }
        else if (_byMac.TryGetValue(EthernetFrames.MacKey(EthernetFrames.Destination(frame)), out var target) && target.IsOn(network.NetworkId))
        {
            Send(target, frame);
        }
    }

    private void AnswerAsGateway(Port sender, BridgeAddress network, byte[] frame)
    {
        if (EthernetFrames.Ipv4Destination(frame) != EthernetFrames.ToUInt(network.Gateway))
        {
            return; // no routing through the bridge: the public NIC is the way out
        }

        if (EthernetFrames.Ipv4Protocol(frame) == EthernetFrames.Icmp)
        {
            if (EthernetFrames.EchoReply(frame) is { } reply)
            {
                Send(sender, reply);
            }

            return;
        }

        if (EthernetFrames.UdpOf(frame) is { DestinationPort: 53 } udp)
        {
            var query = udp.Payload.ToArray();
            var client = (Ip: EthernetFrames.Ipv4Source(frame), Port: udp.SourcePort);
            _ = Task.Run(() => AnswerDnsAsync(sender, network, client, query));
        }
    }

    /// <summary>Container names first; anything else is asked of the host's nameserver.</summary>
    private async Task AnswerDnsAsync(Port sender, BridgeAddress network, (uint Ip, ushort Port) client, byte[] query)
    {
        byte[]? answer = null;
        if (DnsMessages.QuestionOf(query) is not { } question)
        {
            return;
        }

        var known = Resolver?.Resolve(sender.Info.ContainerId, network.NetworkId, question.Name);
        if (known is not null)
        {
            var wanted = question.Type switch
            {
                DnsMessages.TypeA => known.Ipv4,
                DnsMessages.TypeAaaa => known.Ipv6,
                _ => null,
            };
            answer = DnsMessages.Answer(query, question.QuestionEnd, wanted, DnsMessages.NoError);
        }
        else if (_upstream is not null)
        {
            answer = await AskUpstreamAsync(query).ConfigureAwait(false);
        }

        answer ??= DnsMessages.Answer(query, question.QuestionEnd, null, DnsMessages.ServerFailure);
        var reply = EthernetFrames.UdpFrame(GatewayMac, EthernetFrames.ParseMac(sender.Info.Mac), EthernetFrames.ToUInt(network.Gateway), 53, client.Ip, client.Port, answer);
        Send(sender, reply);
    }

    private async Task<byte[]?> AskUpstreamAsync(byte[] query)
    {
        using var udp = new UdpClient(_upstream!.AddressFamily);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            await udp.SendAsync(query, _upstream, timeout.Token).ConfigureAwait(false);
            var result = await udp.ReceiveAsync(timeout.Token).ConfigureAwait(false);
            return result.Buffer;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            return null;
        }
    }

    private void Send(Port port, byte[] frame)
    {
        try
        {
            _socket.SendTo(frame, SocketFlags.None, port.Peer);
        }
        catch (SocketException)
        {
            // The VM is gone or not listening yet: a frame on a wire with nobody at the end.
        }
        catch (ObjectDisposedException)
        {
            // Shutting down.
        }
    }

    /// <summary>The first nameserver of the host's /etc/resolv.conf, for names that are not containers'.</summary>
    private static IPEndPoint? HostNameserver()
    {
        try
        {
            return File.ReadLines("/etc/resolv.conf")
                .Select(l => l.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                .Where(p => p.Length >= 2 && p[0] == "nameserver" && IPAddress.TryParse(p[1], out _))
                .Select(p => new IPEndPoint(IPAddress.Parse(p[1]), 53))
                .FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private sealed record Port(BridgePort Info, EndPoint Peer)
    {
        public BridgeAddress? AddressOf(uint ip) => Info.Addresses.FirstOrDefault(a => a.Address.AddressFamily == AddressFamily.InterNetwork && EthernetFrames.ToUInt(a.Address) == ip);

        public BridgeAddress? AddressOf(IPAddress ip) => Info.Addresses.FirstOrDefault(a => a.Address.Equals(ip));

        public bool IsOn(string networkId) => Info.Addresses.Any(a => a.NetworkId == networkId);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4201, Level = LogLevel.Debug, Message = "bridge port of {ContainerId} ({Mac}) on {Addresses}")]
        public static partial void Joined(ILogger logger, string containerId, string mac, string addresses);

        [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "bridge receive failed: {Reason}")]
        public static partial void ReceiveFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 4203, Level = LogLevel.Debug, Message = "bridge dropped a malformed frame: {Reason}")]
        public static partial void FrameDropped(ILogger logger, string reason);
    }
}
