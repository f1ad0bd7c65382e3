using System.Net;

namespace Vic.Registry;

/// <summary>Credentials for one registry, from <c>docker login</c> or the <c>X-Registry-Auth</c> header.</summary>
public sealed record RegistryCredentials(string? Username, string? Password, string? IdentityToken = null)
{
    public bool IsEmpty => string.IsNullOrEmpty(Username) && string.IsNullOrEmpty(IdentityToken);
}

/// <summary>How the VCH reaches registries; fixed for the life of the endpoint.</summary>
public sealed record RegistryOptions
{
    /// <summary>Mirrors tried first, in order, for docker.io images (pull only), like dockerd's --registry-mirror.</summary>
    public IReadOnlyList<Uri> Mirrors { get; init; } = [];

    /// <summary>Registries (host[:port]) or networks (CIDR) reached without certificate checks, falling back to plain HTTP.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>Folder with one sub-folder per registry host holding <c>ca.crt</c>, as <c>/etc/docker/certs.d</c>.</summary>
    public string? CertificatesDirectory { get; init; }

    /// <summary>PEM files of CAs trusted for every registry (VIC's <c>--registry-ca</c>).</summary>
    public IReadOnlyList<string> CertificateAuthorities { get; init; } = [];

    /// <summary>The proxies registries are reached through (dockerd's <c>--http-proxy</c>, <c>--https-proxy</c>, <c>--no-proxy</c>); none by default.</summary>
    public ProxySettings Proxies { get; init; } = ProxySettings.None;

    /// <summary>How many times a dropped blob download is resumed before the pull fails.</summary>
    public int BlobRetries { get; init; } = 5;

    /// <summary>Pause before the first retry; doubled each time.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public bool IsInsecure(string host)
    {
        var hostOnly = HostOnly(host);
        if (hostOnly == "localhost")
        {
            return true;
        }

        var address = IPAddress.TryParse(hostOnly, out var parsed) ? parsed : null;
        if (address is not null && IPAddress.IsLoopback(address))
        {
            return true;
        }

        foreach (var entry in InsecureRegistries)
        {
            if (string.Equals(entry, host, StringComparison.OrdinalIgnoreCase) || string.Equals(entry, hostOnly, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (address is not null && entry.Contains('/', StringComparison.Ordinal) && IPNetwork.TryParse(entry, out var network) && network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static string HostOnly(string host)
    {
        if (host.StartsWith('['))
        {
            var end = host.IndexOf(']', StringComparison.Ordinal);
            return end < 0 ? host : host[1..end];
        }

        var colon = host.LastIndexOf(':');
        return colon < 0 ? host : host[..colon];
    }
}
