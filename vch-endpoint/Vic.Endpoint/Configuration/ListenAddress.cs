using System.Globalization;
using System.Net;

namespace Vic.Endpoint.Configuration;

/// <summary>One <c>-H</c> address: a TCP endpoint or a unix socket, parsed the way dockerd reads them.</summary>
public abstract record ListenAddress
{
    public static ListenAddress Parse(string text, int defaultPort)
    {
        if (text.StartsWith("unix://", StringComparison.Ordinal))
        {
            var path = text["unix://".Length..];
            return path.Length > 0 ? new UnixSocketAddress(path) : throw new FormatException($"invalid unix socket address: {text}");
        }

        var rest = text.StartsWith("tcp://", StringComparison.Ordinal) ? text["tcp://".Length..] : text;
        if (rest.Contains("://", StringComparison.Ordinal))
        {
            throw new FormatException($"invalid bind address {text}: only tcp:// and unix:// are served");
        }

        rest = rest.TrimEnd('/');
        var colon = rest.LastIndexOf(':');
        var hostText = colon < 0 ? rest : rest[..colon];
        var portText = colon < 0 ? "" : rest[(colon + 1)..];
        var port = defaultPort;
        if (portText.Length > 0 && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new FormatException($"invalid bind address {text}: bad port '{portText}'");
        }

        hostText = hostText.Trim('[', ']');
        IPAddress address;
        if (hostText.Length == 0)
        {
            address = IPAddress.Any;
        }
        else if (hostText == "localhost")
        {
            address = IPAddress.Loopback;
        }
        else if (!IPAddress.TryParse(hostText, out address!))
        {
            throw new FormatException($"invalid bind address {text}: '{hostText}' is not an IP address");
        }

        return new TcpAddress(new IPEndPoint(address, port));
    }
}

public sealed record TcpAddress(IPEndPoint EndPoint) : ListenAddress
{
    public bool IsLoopback => IPAddress.IsLoopback(EndPoint.Address);

    public override string ToString() => $"tcp://{EndPoint}";
}

public sealed record UnixSocketAddress(string Path) : ListenAddress
{
    public override string ToString() => $"unix://{Path}";
}
