using System.Globalization;
using System.Net;

namespace Vic.Registry;

/// <summary>
/// dockerd's proxies (<c>--http-proxy</c>, <c>--https-proxy</c>, <c>--no-proxy</c>, else the
/// HTTP_PROXY, HTTPS_PROXY and NO_PROXY of its environment), read as Go's net/http reads them:
/// http:// requests go through the HTTP proxy and https:// ones through the HTTPS proxy (neither
/// stands in for the other); localhost and loopback addresses never go through one; NO_PROXY is a
/// comma-separated list of <c>*</c>, IP addresses, CIDRs and host names, each optionally with a port,
/// where <c>example.com</c> matches it and its subdomains and <c>.example.com</c> the subdomains only.
/// </summary>
public sealed record ProxySettings(string? HttpProxy, string? HttpsProxy, string? NoProxy)
{
    public static ProxySettings None { get; } = new(null, null, null);

    /// <summary>The given settings, each that is not given taken from the environment as dockerd takes it (upper case first).</summary>
    /// <param name="environment">Reads a variable (the process's environment unless given).</param>
    public static ProxySettings FromOptionsOrEnvironment(string? httpProxy, string? httpsProxy, string? noProxy, Func<string, string?>? environment = null)
    {
        environment ??= System.Environment.GetEnvironmentVariable;
        string? Variable(string name) => NonEmpty(environment(name)) ?? NonEmpty(environment(name.ToLower(CultureInfo.InvariantCulture)));
        return new(NonEmpty(httpProxy) ?? Variable("HTTP_PROXY"), NonEmpty(httpsProxy) ?? Variable("HTTPS_PROXY"), NonEmpty(noProxy) ?? Variable("NO_PROXY"));
    }

    /// <summary>
    /// A proxy URL as <c>docker info</c> shows it: credentials, if it has any, replaced with
    /// <c>xxxxx:xxxxx</c>, as dockerd's MaskCredentials replaces a URL's user and password.
    /// </summary>
    public static string Masked(string? proxy)
    {
        if (string.IsNullOrEmpty(proxy))
        {
            return "";
        }

        // Read from the text as given, not from a parsed Uri, which may escape the user part afresh.
        var scheme = proxy.IndexOf("://", StringComparison.Ordinal);
        var authority = scheme < 0 ? 0 : scheme + 3;
        var end = proxy.IndexOfAny(['/', '?', '#'], authority);
        var at = end == 0 ? -1 : proxy.LastIndexOf('@', end < 0 ? proxy.Length - 1 : end - 1);
        // Without a scheme Go's parser sees no user at all and dockerd shows the URL whole; read as
        // http:// (as the proxy is used), its credentials are masked here too.
        return at < authority ? proxy : proxy[..authority] + "xxxxx:xxxxx" + proxy[at..];
    }

    /// <summary>Refuses a proxy that is no URL, naming the option it came from.</summary>
    public void Validate()
    {
        foreach (var (option, value) in new[] { ("--http-proxy", HttpProxy), ("--https-proxy", HttpsProxy) })
        {
            if (value is not null && ProxyRoute.ParseProxy(value) is null)
            {
                throw new ArgumentException($"{option} '{Masked(value)}': a proxy URL, http://[user:password@]host:port");
            }
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>The <see cref="IWebProxy"/> of <see cref="ProxySettings"/>: which requests go through which proxy.</summary>
public sealed class ProxyRoute : IWebProxy
{
    private readonly Uri? _http;
    private readonly Uri? _https;
    private readonly bool _noneProxied;
    private readonly List<(IPNetwork Network, int? Port)> _networks = [];
    private readonly List<(string Suffix, bool SubdomainsOnly, int? Port)> _domains = [];

    public ProxyRoute(ProxySettings settings)
    {
        var credentials = new CredentialCache();
        Uri? Proxy(string? text)
        {
            if (text is null || ParseProxy(text) is not { } uri)
            {
                return null;
            }

            var bare = new UriBuilder(uri) { UserName = "", Password = "" }.Uri;
            // One proxy may serve both schemes: its credentials are kept once.
            if (uri.UserInfo.Length > 0 && credentials.GetCredential(bare, "Basic") is null)
            {
                var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
                var user = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
                var password = colon < 0 ? "" : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
                credentials.Add(bare, "Basic", new NetworkCredential(user, password));
            }

            return bare;
        }

        _http = Proxy(settings.HttpProxy);
        _https = Proxy(settings.HttpsProxy);
        Credentials = credentials;
        foreach (var raw in (settings.NoProxy ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var entry = raw.ToLowerInvariant();
            if (entry == "*")
            {
                _noneProxied = true;
                continue;
            }

            if (Cidr(entry) is { } network)
            {
                _networks.Add((network, null));
                continue;
            }

            // A bare IPv6 address is not split at its last colon as if it ended in a port.
            if (!entry.StartsWith('[') && IPAddress.TryParse(entry, out var bare))
            {
                _networks.Add((new IPNetwork(bare, bare.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128), null));
                continue;
            }

            var (host, port) = SplitPort(entry);
            if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
            {
                _networks.Add((new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128), port));
                continue;
            }

            // "*.example.com" is read as ".example.com", as Go reads it.
            var subdomainsOnly = host.StartsWith('.') || host.StartsWith("*.", StringComparison.Ordinal);
            _domains.Add((host.TrimStart('*').TrimStart('.'), subdomainsOnly, port));
        }
    }

    public ICredentials? Credentials { get; set; }

    /// <summary>Whether any request goes through a proxy at all.</summary>
    public bool Any => (_http is not null || _https is not null) && !_noneProxied;

    public Uri? GetProxy(Uri destination) =>
        IsBypassed(destination) ? null : destination.Scheme == Uri.UriSchemeHttps ? _https : destination.Scheme == Uri.UriSchemeHttp ? _http : null;

    public bool IsBypassed(Uri host)
    {
        var name = host.IdnHost.ToLowerInvariant();
        if (_noneProxied || name == "localhost")
        {
            return true;
        }

        if (IPAddress.TryParse(name.Trim('[', ']'), out var address))
        {
            return IPAddress.IsLoopback(address) || _networks.Any(n => n.Network.Contains(address) && (n.Port is null || n.Port == host.Port));
        }

        return _domains.Any(d => (d.Port is null || d.Port == host.Port) &&
            (name.EndsWith("." + d.Suffix, StringComparison.Ordinal) || (!d.SubdomainsOnly && name == d.Suffix)));
    }

    /// <summary>A proxy URL as Go takes it: a scheme of http, https or socks5 (http:// when none), a host, credentials in its user part.</summary>
    internal static Uri? ParseProxy(string proxy)
    {
        var text = proxy.Contains("://", StringComparison.Ordinal) ? proxy : "http://" + proxy;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" or "socks5" && uri.Host.Length > 0 ? uri : null;
    }

    /// <summary>ADDRESS/PREFIX with any host bits cleared, as Go's ParseCIDR gives the network; null when it is none.</summary>
    private static IPNetwork? Cidr(string entry)
    {
        var slash = entry.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(entry[..slash], out var address) ||
            !int.TryParse(entry[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix > address.GetAddressBytes().Length * 8)
        {
            return null;
        }

        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPNetwork(new IPAddress(bytes), prefix);
    }

    private static (string Host, int? Port) SplitPort(string entry)
    {
        var colon = entry.LastIndexOf(':');
        return colon > 0 && !entry.EndsWith(']') && int.TryParse(entry[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? (entry[..colon], port)
            : (entry, null);
    }
}
