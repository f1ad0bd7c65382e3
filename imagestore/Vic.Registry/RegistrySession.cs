using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Vic.Registry;

/// <summary>A manifest as pulled: the platform manifest, and the digest the tag resolved to.</summary>
/// <param name="RepositoryDigest">What <c>docker images --digests</c> shows: the digest of what the tag names (the index, for multi-platform images).</param>
public sealed record PulledManifest(ImageManifest Manifest, byte[] Raw, string ManifestDigest, string RepositoryDigest);

/// <summary>
/// Talks to one repository of one registry with one set of credentials: resolves the endpoint that
/// answers, answers auth challenges (bearer tokens are cached for the session), and offers the
/// manifest and blob operations of a pull and a push.
/// </summary>
public sealed partial class RegistrySession
{
    private readonly RegistryClient _client;
    private readonly RegistryCredentials? _credentials;
    private readonly RegistryAccess _access;
    private readonly IReadOnlyList<Uri> _endpoints;
    private int _endpoint;
    private AuthenticationHeaderValue? _authorization;

    internal RegistrySession(RegistryClient client, ImageReference reference, RegistryCredentials? credentials, RegistryAccess access, IReadOnlyList<Uri> endpoints)
    {
        _client = client;
        Reference = reference;
        _credentials = credentials;
        _access = access;
        _endpoints = endpoints;
    }

    public ImageReference Reference { get; }

    public Uri Endpoint => _endpoints[_endpoint];

    private string Scope => $"repository:{Reference.Repository}:{(_access == RegistryAccess.Pull ? "pull" : "pull,push")}";

    /// <summary>Fetches the manifest the reference names, choosing linux/amd64 from an index.</summary>
    public async Task<PulledManifest> GetManifestAsync(CancellationToken cancellationToken)
    {
        var (raw, mediaType, digest) = await FetchManifestAsync(Reference.ManifestReference, mirrorFallback: true, cancellationToken).ConfigureAwait(false);
        if (Reference.Digest is { } pinned && digest != pinned)
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"manifest digest mismatch: asked for {pinned}, got {digest}");
        }

        var repositoryDigest = digest;
        if (MediaTypes.IsIndex(mediaType))
        {
            var index = Deserialize<ImageIndex>(raw, "index");
            var chosen = index.Manifests.FirstOrDefault(m => m.Platform is { Os: "linux", Architecture: "amd64" })
                ?? throw new RegistryException(RegistryErrorKind.NotFound, $"no matching manifest for linux/amd64 in the manifest list entries of {Reference.FamiliarString}");
            (raw, mediaType, digest) = await FetchManifestAsync(chosen.Digest, mirrorFallback: false, cancellationToken).ConfigureAwait(false);
            if (digest != chosen.Digest)
            {
                throw new RegistryException(RegistryErrorKind.InvalidContent, $"manifest digest mismatch: asked for {chosen.Digest}, got {digest}");
            }
        }

        if (!MediaTypes.IsManifest(mediaType))
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"unsupported manifest media type {mediaType} for {Reference.FamiliarString}");
        }

        return new PulledManifest(Deserialize<ImageManifest>(raw, "manifest"), raw, digest, repositoryDigest);
    }

    /// <summary>
    /// What the reference names, without pulling it: the descriptor of its manifest (or index) and
    /// the platforms it offers, read from the index or, for a single manifest, from its config.
    /// </summary>
    public async Task<(Descriptor Descriptor, IReadOnlyList<Platform> Platforms)> InspectAsync(CancellationToken cancellationToken)
    {
        var (raw, mediaType, digest) = await FetchManifestAsync(Reference.ManifestReference, mirrorFallback: true, cancellationToken).ConfigureAwait(false);
        var descriptor = new Descriptor { MediaType = mediaType, Digest = digest, Size = raw.Length };
        if (MediaTypes.IsIndex(mediaType))
        {
            var index = Deserialize<ImageIndex>(raw, "index");
            return (descriptor, [.. index.Manifests.Select(m => m.Platform).OfType<Platform>()]);
        }

        var manifest = Deserialize<ImageManifest>(raw, "manifest");
        using var config = JsonDocument.Parse(await GetBlobBytesAsync(manifest.Config, cancellationToken).ConfigureAwait(false));
        var root = config.RootElement;
        var platform = new Platform
        {
            Architecture = root.TryGetProperty("architecture", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "",
            Os = root.TryGetProperty("os", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString()! : "",
            Variant = root.TryGetProperty("variant", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null,
        };
        return (descriptor, [platform]);
    }

    /// <summary>Reads a small blob (an image config) whole and checks its digest.</summary>
    public async Task<byte[]> GetBlobBytesAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        await using var stream = await OpenBlobAsync(descriptor, cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>
    /// Opens a blob for reading. The stream resumes with <c>Range</c> when the connection drops and
    /// throws at its end if the size or the digest is not the descriptor's.
    /// </summary>
    public async Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (!Digests.IsValid(descriptor.Digest))
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"invalid blob digest {descriptor.Digest}");
        }

        return await ResumableBlobStream.OpenAsync(
            descriptor,
            (offset, ct) => OpenBlobAtAsync(descriptor.Digest, offset, ct),
            _client.Options,
            _client.Logger,
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> BlobExistsAsync(string digest, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, BlobPath(digest)), Scope, cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK;
    }

    /// <summary>Uploads a blob in one monolithic PUT after starting an upload session.</summary>
    public async Task UploadBlobAsync(string digest, long size, Func<Stream> open, CancellationToken cancellationToken)
    {
        Uri location;
        using (var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"/v2/{Reference.Repository}/blobs/uploads/"), Scope, cancellationToken).ConfigureAwait(false))
        {
            await EnsureSuccessAsync(start, $"start of blob upload {digest}").ConfigureAwait(false);
            location = start.Headers.Location ?? throw new RegistryException(RegistryErrorKind.InvalidContent, "blob upload answered without a Location");
        }

        var target = location.IsAbsoluteUri ? location : new Uri(Endpoint, location);
        var separator = target.Query.Length > 0 ? "&" : "?";
        var put = new Uri(target + separator + "digest=" + Uri.EscapeDataString(digest));
        using var response = await SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, put) { Content = new StreamContent(open()) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                request.Content.Headers.ContentLength = size;
                return request;
            },
            Scope,
            cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"upload of blob {digest}").ConfigureAwait(false);
    }

    /// <summary>Puts a manifest under <paramref name="reference"/> (tag or digest); returns its digest.</summary>
    public async Task<string> PutManifestAsync(string reference, string mediaType, byte[] manifest, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, $"/v2/{Reference.Repository}/manifests/{reference}") { Content = new ByteArrayContent(manifest) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return request;
            },
            Scope,
            cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"push of manifest {reference}").ConfigureAwait(false);
        return Digests.Sha256(manifest);
    }

    private async Task<(byte[] Raw, string MediaType, string Digest)> FetchManifestAsync(string reference, bool mirrorFallback, CancellationToken cancellationToken)
    {
        while (true)
        {
            using var response = await SendAsync(
                () =>
                {
                    var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{Reference.Repository}/manifests/{reference}");
                    foreach (var accept in MediaTypes.ManifestAccept)
                    {
                        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
                    }

                    return request;
                },
                Scope,
                cancellationToken).ConfigureAwait(false);

            // A mirror that lacks the image is not the final word: dockerd moves on to the next endpoint.
            if (response.StatusCode == HttpStatusCode.NotFound && mirrorFallback && _endpoint + 1 < _endpoints.Count)
            {
                _endpoint++;
                _authorization = null;
                continue;
            }

            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw new RegistryException(RegistryErrorKind.NotFound, $"manifest for {Reference.FamiliarString} not found: manifest unknown: manifest unknown")
                {
                    Status = HttpStatusCode.NotFound,
                };
            }

            await EnsureSuccessAsync(response, $"manifest {reference}").ConfigureAwait(false);
            var raw = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            var mediaType = response.Content.Headers.ContentType?.MediaType ?? "";
            if (mediaType is "" or "application/json" or "application/octet-stream")
            {
                // Some registries omit the header; the manifest names its own type.
                using var json = JsonDocument.Parse(raw);
                mediaType = json.RootElement.TryGetProperty("mediaType", out var declared) ? declared.GetString() ?? ""
                    : json.RootElement.TryGetProperty("manifests", out _) ? MediaTypes.OciIndex : MediaTypes.OciManifest;
            }

            return (raw, mediaType, Digests.Sha256(raw));
        }
    }

    private async Task<Stream> OpenBlobAtAsync(string digest, long offset, CancellationToken cancellationToken)
    {
        var response = await SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, BlobPath(digest));
                if (offset > 0)
                {
                    request.Headers.Range = new RangeHeaderValue(offset, null);
                }

                return request;
            },
            Scope,
            cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            response.Dispose();
            throw new RegistryException(RegistryErrorKind.NotFound, $"blob {digest} not found in {Reference.FamiliarName}") { Status = HttpStatusCode.NotFound };
        }

        await EnsureSuccessAsync(response, $"blob {digest}").ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        if (offset > 0 && response.StatusCode != HttpStatusCode.PartialContent)
        {
            // The server ignored Range: skip what we already have.
            await SkipAsync(stream, offset, cancellationToken).ConfigureAwait(false);
        }

        return new ResponseOwningStream(stream, response);
    }

    private string BlobPath(string digest) => $"/v2/{Reference.Repository}/blobs/{digest}";

    private static async Task SkipAsync(Stream stream, long count, CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        while (count > 0)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("blob ended before the resume offset");
            }

            count -= read;
        }
    }

    private static T Deserialize<T>(byte[] raw, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(raw, RegistryJson.Options) ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"the registry sent an invalid {what}: {ex.Message}", ex);
        }
    }
}
