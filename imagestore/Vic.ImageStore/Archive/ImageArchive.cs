using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.Registry;

namespace Vic.ImageStore.Archive;

/// <summary>What <c>docker load</c> reports: the names (or ids of untagged images) it loaded.</summary>
public sealed record LoadedImage(string Id, IReadOnlyList<string> Tags);

/// <summary>
/// <c>docker save</c> and <c>docker load</c> archives in the layout dockerd 25+ writes: an OCI image
/// layout (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/</c>) plus the legacy
/// <c>manifest.json</c> and <c>repositories</c>, layers as uncompressed tars named by diffID.
/// </summary>
public sealed class ImageArchive(LayerStore layers, ImageCatalog images, Func<string, long, ILayerDisk> createDisk)
{
    private const string LayerMediaType = "application/vnd.oci.image.layer.v1.tar";

    public async Task SaveAsync(IReadOnlyList<(ImageRecord Image, IReadOnlyList<string> Tags)> selection, Stream output, CancellationToken cancellationToken)
    {
        var tar = new UstarWriter(output);
        var written = new HashSet<string>(StringComparer.Ordinal);
        var manifestJson = new JsonArray();
        var indexEntries = new JsonArray();
        var repositories = new JsonObject();
        await tar.AddDirectoryAsync("blobs", cancellationToken).ConfigureAwait(false);
        await tar.AddDirectoryAsync("blobs/sha256", cancellationToken).ConfigureAwait(false);
        foreach (var (image, tags) in selection)
        {
            var config = images.ReadConfig(image.Id);
            await AddBlobAsync(tar, image.Id, config, written, cancellationToken).ConfigureAwait(false);
            var layerEntries = new JsonArray();
            foreach (var diffId in image.DiffIds)
            {
                var layer = layers.Find(diffId) ?? throw new InvalidOperationException($"layer {diffId} of {image.Id} is missing from the store");
                if (written.Add(diffId))
                {
                    await tar.AddFileAsync(BlobPath(diffId), layer.TarBytes, async target =>
                    {
                        await using var blob = File.OpenRead(layer.BlobPath);
                        await using var gunzip = new GZipStream(blob, CompressionMode.Decompress);
                        await gunzip.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
                    }, cancellationToken).ConfigureAwait(false);
                }

                layerEntries.Add(new JsonObject { ["mediaType"] = LayerMediaType, ["digest"] = diffId, ["size"] = layer.TarBytes });
            }

            var manifest = new JsonObject
            {
                ["schemaVersion"] = 2,
                ["mediaType"] = MediaTypes.OciManifest,
                ["config"] = new JsonObject { ["mediaType"] = MediaTypes.OciConfig, ["digest"] = image.Id, ["size"] = config.Length },
                ["layers"] = layerEntries,
            };
            var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
            var manifestDigest = Digests.Sha256(manifestBytes);
            await AddBlobAsync(tar, manifestDigest, manifestBytes, written, cancellationToken).ConfigureAwait(false);

            foreach (var tag in tags.DefaultIfEmpty())
            {
                var entry = new JsonObject { ["mediaType"] = MediaTypes.OciManifest, ["digest"] = manifestDigest, ["size"] = manifestBytes.Length };
                if (tag is not null)
                {
                    var reference = ImageReference.Parse(tag);
                    entry["annotations"] = new JsonObject
                    {
                        ["io.containerd.image.name"] = reference.ToString(),
                        ["org.opencontainers.image.ref.name"] = reference.Tag,
                    };
                    var repository = repositories[reference.FamiliarName] as JsonObject ?? new JsonObject();
                    repository[reference.Tag!] = Digests.Hex(image.DiffIds[^1]);
                    repositories[reference.FamiliarName] = repository;
                }

                indexEntries.Add(entry);
            }

            manifestJson.Add(new JsonObject
            {
                ["Config"] = BlobPath(image.Id),
                ["RepoTags"] = new JsonArray([.. tags.Select(t => (JsonNode)t)]),
                ["Layers"] = new JsonArray([.. image.DiffIds.Select(d => (JsonNode)BlobPath(d))]),
            });
        }

        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = indexEntries };
        await tar.AddFileAsync("index.json", Encoding.UTF8.GetBytes(index.ToJsonString()), cancellationToken).ConfigureAwait(false);
        await tar.AddFileAsync("manifest.json", Encoding.UTF8.GetBytes(manifestJson.ToJsonString()), cancellationToken).ConfigureAwait(false);
        await tar.AddFileAsync("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await tar.AddFileAsync("repositories", Encoding.UTF8.GetBytes(repositories.ToJsonString()), cancellationToken).ConfigureAwait(false);
        await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Loads every image of an archive. The archive is unpacked to a scratch folder first (its
    /// manifest may come last), its names checked like a layer's; each layer is then converted once.
    /// </summary>
    public async Task<IReadOnlyList<LoadedImage>> LoadAsync(Stream archive, string scratch, CancellationToken cancellationToken)
    {
        var root = Directory.CreateDirectory(Path.Combine(scratch, "load-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            await UnpackAsync(archive, root, cancellationToken).ConfigureAwait(false);
            var manifestPath = Path.Combine(root, "manifest.json");
            if (!File.Exists(manifestPath))
            {
                throw new LayerRefusedException("invalid archive: manifest.json is missing (is this a docker save archive?)");
            }

            var loaded = new List<LoadedImage>();
            using var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(manifestPath, cancellationToken).ConfigureAwait(false));
            foreach (var entry in manifest.RootElement.EnumerateArray())
            {
                var config = await File.ReadAllBytesAsync(Inside(root, entry.GetProperty("Config").GetString()!), cancellationToken).ConfigureAwait(false);
                var (diffIds, created, labels) = ImageConfigs.Read(config, entry.GetProperty("Layers").GetArrayLength());
                var layerPaths = entry.GetProperty("Layers").EnumerateArray().Select(l => Inside(root, l.GetString()!)).ToList();
                long size = 0;
                for (var i = 0; i < diffIds.Count; i++)
                {
                    var layer = layers.Find(diffIds[i]);
                    if (layer is null)
                    {
                        await using var blob = File.OpenRead(layerPaths[i]);
                        var gzipped = blob.ReadByte() == 0x1f && blob.ReadByte() == 0x8b;
                        blob.Position = 0;
                        layer = await layers.ImportAsync(blob, gzipped, diffIds[i], createDisk, cancellationToken).ConfigureAwait(false);
                    }

                    size += layer.TarBytes;
                }

                var id = Digests.Sha256(config);
                var tags = entry.TryGetProperty("RepoTags", out var t) && t.ValueKind == JsonValueKind.Array
                    ? t.EnumerateArray().Select(x => ImageReference.Parse(x.GetString()!).FamiliarString).ToList()
                    : [];
                var record = new ImageRecord { Id = id, DiffIds = diffIds, Size = size, Created = created, Stored = DateTimeOffset.UtcNow, Labels = labels };
                images.Add(record, config, null, null);
                foreach (var tag in tags)
                {
                    images.Tag(id, tag);
                }

                loaded.Add(new LoadedImage(id, tags));
            }

            return loaded;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task UnpackAsync(Stream archive, string root, CancellationToken cancellationToken)
    {
        using var reader = new TarReader(archive, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
            {
                continue;
            }

            var path = Inside(root, entry.Name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var file = File.Create(path);
            if (entry.DataStream is { } data)
            {
                await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Resolves an archive name under <paramref name="root"/>, refusing names that climb out.</summary>
    private static string Inside(string root, string name)
    {
        var full = Path.GetFullPath(Path.Combine(root, name));
        return full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? full
            : throw new LayerRefusedException($"invalid archive: entry \"{name}\" points outside the archive");
    }

    private static string BlobPath(string digest) => "blobs/sha256/" + Digests.Hex(digest);

    private static async Task AddBlobAsync(UstarWriter tar, string digest, byte[] content, HashSet<string> written, CancellationToken cancellationToken)
    {
        if (written.Add(digest))
        {
            await tar.AddFileAsync(BlobPath(digest), content, cancellationToken).ConfigureAwait(false);
        }
    }
}
