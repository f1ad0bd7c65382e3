using System.Buffers.Binary;
using System.Net;

namespace Vic.Backends.Qemu.Bridge;

/// <summary>
/// Just enough of Ethernet, ARP, IPv4, ICMP and UDP to switch frames between ContainerVMs and to
/// answer for a gateway: offsets, checksums and the few replies the bridge makes.
/// </summary>
internal static class EthernetFrames
{
    public const int HeaderLength = 14;
    public const ushort Ipv4 = 0x0800;
    public const ushort Arp = 0x0806;
    public const ushort Ipv6 = 0x86DD;
    public const byte Icmp = 1;
    public const byte Udp = 17;

    public static ReadOnlySpan<byte> Destination(ReadOnlySpan<byte> frame) => frame[..6];

    public static ReadOnlySpan<byte> Source(ReadOnlySpan<byte> frame) => frame[6..12];

    public static ushort EtherType(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);

    public static bool IsBroadcast(ReadOnlySpan<byte> frame) => (frame[0] & 1) == 1;

    /// <summary>A MAC as a number: the switch looks one up for every frame, so no string is made.</summary>
    public static ulong MacKey(ReadOnlySpan<byte> mac) => ((ulong)BinaryPrimitives.ReadUInt16BigEndian(mac) << 32) | BinaryPrimitives.ReadUInt32BigEndian(mac[2..]);

    public static byte[] ParseMac(string text) => Convert.FromHexString(text.Replace(":", "", StringComparison.Ordinal));

    // ARP (RFC 826) for IPv4 over Ethernet: the fields after the Ethernet header.
    public static ushort ArpOperation(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt16BigEndian(frame[(HeaderLength + 6)..]);

    public static uint ArpSenderIp(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame[(HeaderLength + 14)..]);

    public static uint ArpTargetIp(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame[(HeaderLength + 24)..]);

    public static bool IsArpRequest(ReadOnlySpan<byte> frame) => frame.Length >= HeaderLength + 28 && ArpOperation(frame) == 1;

    /// <summary>The reply to an ARP request: <paramref name="mac"/> has the asked-for address.</summary>
    public static byte[] ArpReply(ReadOnlySpan<byte> request, ReadOnlySpan<byte> mac)
    {
        var reply = new byte[HeaderLength + 28];
        Source(request).CopyTo(reply);
        mac.CopyTo(reply.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(12), Arp);
        var arp = reply.AsSpan(HeaderLength);
        request.Slice(HeaderLength, 6).CopyTo(arp); // hardware and protocol types and sizes
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], 2);
        mac.CopyTo(arp[8..]);
        request.Slice(HeaderLength + 24, 4).CopyTo(arp[14..]); // we are the address asked for
        request.Slice(HeaderLength + 8, 10).CopyTo(arp[18..]); // to the asker's MAC and address
        return reply;
    }

    // IPv4 (RFC 791).
    public static int Ipv4HeaderLength(ReadOnlySpan<byte> frame) => (frame[HeaderLength] & 0x0F) * 4;

    public static byte Ipv4Protocol(ReadOnlySpan<byte> frame) => frame[HeaderLength + 9];

    public static uint Ipv4Source(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame[(HeaderLength + 12)..]);

    public static uint Ipv4Destination(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame[(HeaderLength + 16)..]);

    public static bool IsIpv4(ReadOnlySpan<byte> frame) => frame.Length >= HeaderLength + 20 && (frame[HeaderLength] >> 4) == 4 && Ipv4HeaderLength(frame) >= 20 && frame.Length >= HeaderLength + Ipv4HeaderLength(frame);

    // IPv6 (RFC 8200): a fixed 40-byte header, the source address at 8, the destination at 24.
    public static bool IsIpv6(ReadOnlySpan<byte> frame) => frame.Length >= HeaderLength + 40 && (frame[HeaderLength] >> 4) == 6;

    public static IPAddress Ipv6Source(ReadOnlySpan<byte> frame) => new(frame.Slice(HeaderLength + 8, 16));

    /// <summary>An ICMP echo request to us turned into its reply, in place.</summary>
    public static byte[]? EchoReply(ReadOnlySpan<byte> request)
    {
        var ip = Ipv4HeaderLength(request);
        var icmp = HeaderLength + ip;
        if (request.Length < icmp + 8 || request[icmp] != 8)
        {
            return null;
        }

        var reply = request.ToArray();
        request.Slice(6, 6).CopyTo(reply);
        request[..6].CopyTo(reply.AsSpan(6));
        request.Slice(HeaderLength + 16, 4).CopyTo(reply.AsSpan(HeaderLength + 12));
        request.Slice(HeaderLength + 12, 4).CopyTo(reply.AsSpan(HeaderLength + 16));
        reply[HeaderLength + 8] = 64;
        reply[icmp] = 0;
        WriteChecksum(reply.AsSpan(icmp), 2);
        WriteChecksum(reply.AsSpan(HeaderLength, ip), 10);
        return reply;
    }

    /// <summary>The UDP ports and payload of an IPv4 UDP frame, or null if it is not one.</summary>
    public static (ushort SourcePort, ushort DestinationPort, ReadOnlyMemory<byte> Payload)? UdpOf(ReadOnlyMemory<byte> frame)
    {
        var span = frame.Span;
        var udp = HeaderLength + Ipv4HeaderLength(span);
        if (Ipv4Protocol(span) != Udp || span.Length < udp + 8)
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(span[(udp + 4)..]);
        if (length < 8 || udp + length > span.Length)
        {
            return null;
        }

        return (BinaryPrimitives.ReadUInt16BigEndian(span[udp..]), BinaryPrimitives.ReadUInt16BigEndian(span[(udp + 2)..]), frame.Slice(udp + 8, length - 8));
    }

    /// <summary>A UDP datagram from us to a guest; the UDP checksum is left 0, which IPv4 allows.</summary>
    public static byte[] UdpFrame(ReadOnlySpan<byte> fromMac, ReadOnlySpan<byte> toMac, uint fromIp, ushort fromPort, uint toIp, ushort toPort, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[HeaderLength + 20 + 8 + payload.Length];
        toMac.CopyTo(frame);
        fromMac.CopyTo(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), Ipv4);
        var ip = frame.AsSpan(HeaderLength, 20);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000); // don't fragment
        ip[8] = 64;
        ip[9] = Udp;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], fromIp);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], toIp);
        WriteChecksum(ip, 10);
        var udp = frame.AsSpan(HeaderLength + 20);
        BinaryPrimitives.WriteUInt16BigEndian(udp, fromPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], toPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);
        return frame;
    }

    public static uint ToUInt(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    /// <summary>The Internet checksum (RFC 1071) of <paramref name="data"/>, written at <paramref name="at"/>.</summary>
    public static void WriteChecksum(Span<byte> data, int at)
    {
        data[at] = 0;
        data[at + 1] = 0;
        uint sum = 0;
        for (var i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if ((data.Length & 1) == 1)
        {
            sum += (uint)data[^1] << 8;
        }

        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        BinaryPrimitives.WriteUInt16BigEndian(data[at..], (ushort)~sum);
    }
}
