using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Vic.TestSupport;

/// <summary>This machine's addresses, for peers that must not be on loopback (dockerd and Go treat loopback specially: insecure, never proxied).</summary>
public static class HostAddresses
{
    /// <summary>An IPv4 address of this machine that is not loopback.</summary>
    public static IPAddress NonLoopback() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus != OperationalStatus.Down && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? throw new InvalidOperationException("this machine has no non-loopback IPv4 address");
}
