using System.Globalization;
using Vic.PortLayer.Errors;

namespace Vic.PortLayer.Networks;

/// <summary>
/// One <c>-p</c> binding as the create asked for it: a container port (<c>80/tcp</c>) to a host IP
/// and a host port, a range (<c>8000-8010</c>), or empty for any free port.
/// </summary>
public sealed record PortBinding(string ContainerPort, string HostIp, string HostPort);

/// <summary>A host port really forwarded to a container port while the container runs.</summary>
public sealed record PublishedPort(string Protocol, int ContainerPort, string HostIp, int HostPort);

/// <summary>Docker's port notation: <c>80</c>, <c>80/udp</c>, <c>8000-8010/tcp</c>.</summary>
public static class PortNotation
{
    /// <summary>Splits <c>port[-end][/proto]</c> into its first and last port and protocol.</summary>
    public static (int First, int Last, string Protocol) Parse(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var protocol = slash < 0 ? "tcp" : text[(slash + 1)..].ToLowerInvariant();
        if (protocol is not ("tcp" or "udp"))
        {
            throw PortLayerException.InvalidParameter($"invalid proto: {protocol}");
        }

        var (first, last) = Range(slash < 0 ? text : text[..slash], text);
        return (first, last, protocol);
    }

    /// <summary>A host port or range; empty means one free port, chosen at start.</summary>
    public static (int First, int Last) HostRange(string text) => text.Length == 0 ? (0, 0) : Range(text, text);

    private static (int First, int Last) Range(string ports, string whole)
    {
        var dash = ports.IndexOf('-', StringComparison.Ordinal);
        var first = Port(dash < 0 ? ports : ports[..dash], whole);
        var last = dash < 0 ? first : Port(ports[(dash + 1)..], whole);
        return last < first ? throw PortLayerException.InvalidParameter($"invalid port range: {whole}") : (first, last);
    }

    private static int Port(string text, string whole) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? port
            : throw PortLayerException.InvalidParameter($"invalid port specification: \"{whole}\"");
}
