using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Vic.Backends.Qemu;

/// <summary>
/// What a ContainerVM may not reach on the host through its public NIC. slirp hands a guest's
/// connections to the gateway (10.0.2.2) to the host's loopback, where the endpoint's own API and
/// every loopback-only service listen; and the endpoint's ports answer on the host's other addresses
/// too. dockerd's containers reach neither. So every QEMU runs with a group of its own
/// (<see cref="GroupId"/>, set by <c>setpriv</c>; the user stays the endpoint's, so files are
/// unchanged), and the host's firewall refuses new connections from that group to loopback and to
/// <see cref="ClosedPorts"/> on any host address, except <see cref="OpenLoopbackPorts"/> (an NFS
/// volume store on the host's loopback, which the guests mount through the gateway).
/// </summary>
public sealed record GuestIsolation(int GroupId, IReadOnlyList<int> ClosedPorts, IReadOnlyList<int> OpenLoopbackPorts)
{
    /// <summary>A group per VCH, from its data directory: stable across restarts, apart from other VCHs on the host.</summary>
    public static int GroupFor(string dataDirectory) =>
        64000 + (int)(BitConverter.ToUInt32(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(dataDirectory))), 0) % 1000);

    public string Chain => $"VIC-GUESTS-{GroupId}";
}

/// <summary>Puts <see cref="GuestIsolation"/> into the host's iptables; says in words when it cannot.</summary>
internal static partial class HostFirewall
{
    /// <summary>Null when the rules are in place; else why not (not root, no iptables, refused).</summary>
    public static string? Apply(GuestIsolation isolation, ILogger logger)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return "the endpoint does not run as root, so it cannot set the host's firewall";
        }

        var chain = isolation.Chain;
        var owner = new[] { "-m", "owner", "--gid-owner", isolation.GroupId.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var steps = new List<string[]>
        {
            // A chain of this VCH's own, made anew each start, so a changed set of ports replaces the old.
            new[] { "-N", chain },
            new[] { "-F", chain },
        };
        foreach (var port in isolation.OpenLoopbackPorts)
        {
            steps.Add(["-A", chain, "-d", "127.0.0.0/8", "-p", "tcp", "--dport", Text(port), "-j", "RETURN"]);
        }

        // slirp forwards the guests' DNS (10.0.2.3) to the host's resolver, which may listen on loopback.
        steps.Add(["-A", chain, "-d", "127.0.0.0/8", "-p", "udp", "--dport", "53", "-j", "RETURN"]);
        steps.Add(["-A", chain, "-d", "127.0.0.0/8", "-p", "tcp", "--dport", "53", "-j", "RETURN"]);
        steps.Add(["-A", chain, "-d", "127.0.0.0/8", "-m", "conntrack", "--ctstate", "NEW", "-j", "REJECT"]);
        foreach (var port in isolation.ClosedPorts)
        {
            steps.Add(["-A", chain, "-p", "tcp", "--dport", Text(port), "-m", "addrtype", "--dst-type", "LOCAL", "-m", "conntrack", "--ctstate", "NEW", "-j", "REJECT"]);
        }

        foreach (var step in steps)
        {
            var (code, error) = Run(step);
            if (code != 0 && !(step[0] == "-N" && error.Contains("exists", StringComparison.OrdinalIgnoreCase)))
            {
                return $"iptables {string.Join(' ', step)}: {error.Trim()}";
            }
        }

        if (Run(["-C", "OUTPUT", .. owner, "-j", chain]).Code != 0 && Run(["-I", "OUTPUT", .. owner, "-j", chain]) is { Code: not 0 } jump)
        {
            return $"iptables -I OUTPUT: {jump.Error.Trim()}";
        }

        Log.Applied(logger, chain, isolation.GroupId, string.Join(", ", isolation.ClosedPorts), string.Join(", ", isolation.OpenLoopbackPorts));
        return null;
    }

    /// <summary>The host's first IPv4 address on an interface that is up and not loopback; null when it has none.</summary>
    public static System.Net.IPAddress? HostAddress() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up && n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !System.Net.IPAddress.IsLoopback(a));

    private static string Text(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static (int Code, string Error) Run(string[] arguments)
    {
        var start = new ProcessStartInfo("iptables") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-w");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, error);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (127, $"iptables cannot be run ({ex.Message}); Debian's iptables package has it");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "ContainerVMs (group {Group}) are kept off the host's loopback and the endpoint's ports {Closed} by iptables chain {Chain}; loopback ports left open to them: {Open}")]
        public static partial void Applied(ILogger logger, string chain, int group, string closed, string open);
    }
}
