using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Vic.Registry;

/// <summary>What a session will do to a repository; it decides the token scope asked for.</summary>
public enum RegistryAccess
{
    Pull,
    PullPush,
}

/// <summary>
/// A Docker Registry HTTP API v2 client. It owns one HTTP connection pool per registry host (so a
/// registry's own CA or insecure setting applies to it alone) and opens a <see cref="RegistrySession"/>
/// per repository, which holds the bearer token for that repository.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private readonly ConcurrentDictionary<(string Host, bool Insecure, long CaStamp), HttpClient> _clients = new();
    private readonly Func<string, bool, HttpMessageHandler> _handlerFactory;
    private readonly ProxyRoute _proxy;

    public RegistryClient(RegistryOptions options, ILogger<RegistryClient> logger, Func<string, bool, HttpMessageHandler>? handlerFactory = null)
    {
        Options = options;
        Logger = logger;
        _proxy = new ProxyRoute(options.Proxies);
        _handlerFactory = handlerFactory ?? DefaultHandler;
    }

    public RegistryOptions Options { get; }

    internal ILogger Logger { get; }

    public RegistrySession Open(ImageReference reference, RegistryCredentials? credentials, RegistryAccess access) =>
        new(this, reference, credentials, access, Endpoints(reference.Registry, access == RegistryAccess.Pull));

    /// <summary>Checks credentials the way <c>docker login</c> does: an authenticated <c>GET /v2/</c>.</summary>
    public async Task CheckLoginAsync(string registry, RegistryCredentials credentials, CancellationToken cancellationToken)
    {
        var session = new RegistrySession(this, new ImageReference(registry, "", null, null), credentials, RegistryAccess.Pull, Endpoints(registry, mirrorsAllowed: false));
        using var response = await session.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "/v2/"), scope: null, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new RegistryException(RegistryErrorKind.Unauthorized, $"login to {registry} failed: {(int)response.StatusCode} {response.ReasonPhrase}")
            {
                Status = response.StatusCode,
            };
        }
    }

    /// <summary>
    /// The repositories a registry lists in its catalog (<c>GET /v2/_catalog</c>, followed page by
    /// page through its Link headers), for <c>docker search</c>; docker.io's come from its mirrors.
    /// </summary>
    public async Task<IReadOnlyList<string>> CatalogAsync(string registry, RegistryCredentials? credentials, CancellationToken cancellationToken)
    {
        var session = new RegistrySession(this, new ImageReference(registry, "", null, null), credentials, RegistryAccess.Pull, Endpoints(registry, mirrorsAllowed: true));
        var names = new List<string>();
        for (var next = "/v2/_catalog?n=1000"; next is not null && names.Count < 100_000;)
        {
            var page = next;
            using var response = await session.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, page), "registry:catalog:*", cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new RegistryException(
                    response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden ? RegistryErrorKind.Unauthorized : RegistryErrorKind.Unavailable,
                    $"{registry} does not list its repositories (GET /v2/_catalog: {(int)response.StatusCode} {response.ReasonPhrase})")
                {
                    Status = response.StatusCode,
                };
            }

            using var json = await System.Text.Json.JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (json.RootElement.TryGetProperty("repositories", out var repositories) && repositories.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                names.AddRange(repositories.EnumerateArray().Select(r => r.GetString()).OfType<string>());
            }

            // Link: </v2/_catalog?last=x&n=1000>; rel="next"
            next = response.Headers.TryGetValues("Link", out var links)
                ? links.Select(l => l.Split(';')).Where(p => p.Length > 1 && p[1].Contains("next", StringComparison.Ordinal)).Select(p => p[0].Trim().Trim('<', '>')).FirstOrDefault()
                : null;
        }

        return names;
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }
    }

    internal HttpClient ClientFor(Uri endpoint)
    {
        var insecure = endpoint.Scheme == Uri.UriSchemeHttp || Options.IsInsecure(endpoint.Authority);

        // As dockerd, certs.d is read at each pull: a ca.crt put there (or changed) applies without a restart.
        var authority = AuthorityFile(endpoint.Authority) is { } path && File.Exists(path) ? File.GetLastWriteTimeUtc(path).Ticks : 0;
        return _clients.GetOrAdd((endpoint.Authority, insecure, authority), key => new HttpClient(_handlerFactory(key.Host, key.Insecure), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        });
    }

    /// <summary>
    /// Where to send requests for <paramref name="registry"/>, in order: docker.io's mirrors (pulls
    /// only), then HTTPS, then for an insecure registry plain HTTP, as dockerd tries them.
    /// </summary>
    internal IReadOnlyList<Uri> Endpoints(string registry, bool mirrorsAllowed)
    {
        var endpoints = new List<Uri>();
        if (registry == ImageReference.DockerHub)
        {
            if (mirrorsAllowed)
            {
                endpoints.AddRange(Options.Mirrors);
            }

            endpoints.Add(new Uri("https://registry-1.docker.io/"));
            return endpoints;
        }

        endpoints.Add(new Uri($"https://{registry}/"));
        if (Options.IsInsecure(registry))
        {
            endpoints.Add(new Uri($"http://{registry}/"));
        }

        return endpoints;
    }

    private HttpMessageHandler DefaultHandler(string host, bool insecure)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            Proxy = _proxy,
            UseProxy = true,
        };
        var authority = AuthorityFile(host);
        if (insecure)
        {
            // dockerd's --insecure-registry: TLS is still tried, but its certificate is not checked.
#pragma warning disable CA5359 // The operator asked for exactly this registry to go unverified.
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        else if (TrustedAuthorities(authority) is { Count: > 0 } authorities)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                {
                    return true;
                }

                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }

        return handler;
    }

    /// <summary>The registry's own ca.crt (certs.d) and the CAs trusted for every registry.</summary>
    private X509Certificate2Collection TrustedAuthorities(string? hostAuthority)
    {
        var authorities = new X509Certificate2Collection();
        if (hostAuthority is not null && File.Exists(hostAuthority))
        {
            authorities.ImportFromPemFile(hostAuthority);
        }

        foreach (var bundle in Options.CertificateAuthorities)
        {
            authorities.ImportFromPemFile(bundle);
        }

        return authorities;
    }

    private string? AuthorityFile(string host) => Options.CertificatesDirectory is { } directory ? Path.Combine(directory, host, "ca.crt") : null;

    internal static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "registry endpoint {Endpoint} failed ({Reason}); trying the next")]
        public static partial void EndpointFailed(ILogger logger, Uri endpoint, string reason);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "blob {Digest} download broke at byte {Position} ({Reason}); resuming, attempt {Attempt}")]
        public static partial void BlobResumed(ILogger logger, string digest, long position, string reason, int attempt);
    }
}
