using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Vic.PortLayer.Networks;

/// <summary>
/// Host ports for publishing. A port is picked outside the kernel's ephemeral range: a port from
/// that range, found free and released, can be taken by any outgoing connection before the
/// hypervisor binds it, and the start then fails for no reason the user can see.
/// </summary>
public static class HostPorts
{
    private const string EphemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>Whether <paramref name="port"/> can be bound on <paramref name="hostIp"/> now.</summary>
    public static bool IsFree(string protocol, string hostIp, int port)
    {
        try
        {
            using var socket = SocketFor(protocol);
            socket.Bind(new IPEndPoint(IPAddress.Parse(hostIp), port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A free port no outgoing connection will be handed, other than those in <paramref name="taken"/>.</summary>
    public static int PickFree(string protocol, string hostIp, IReadOnlyCollection<int> taken)
    {
        var (first, last) = QuietRange();
        for (var attempt = 0; attempt < 64 && last >= first; attempt++)
        {
            var port = Random.Shared.Next(first, last + 1);
            if (!taken.Contains(port) && IsFree(protocol, hostIp, port))
            {
                return port;
            }
        }

        using var socket = SocketFor(protocol);
        socket.Bind(new IPEndPoint(IPAddress.Parse(hostIp), 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>The larger run of ports above or below the ephemeral range (1024 and up).</summary>
    public static (int First, int Last) QuietRange()
    {
        var (low, high) = EphemeralRange();
        var above = (First: high + 1, Last: 65535);
        var below = (First: 1024, Last: low - 1);
        return above.Last - above.First >= below.Last - below.First ? above : below;
    }

    private static (int Low, int High) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText(EphemeralRangeFile).Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (32768, 60999);
        }
    }

    private static Socket SocketFor(string protocol) => protocol == "udp"
        ? new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)
        : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
}
