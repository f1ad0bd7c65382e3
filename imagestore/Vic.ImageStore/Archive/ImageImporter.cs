using System.Text;
using System.Text.Json.Nodes;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.Registry;

namespace Vic.ImageStore.Archive;

/// <summary>
/// <c>docker import</c>: a root filesystem tar (plain or gzip) becomes a one-layer image; and
/// <c>docker commit</c>: a container's layer tar on top of its image becomes a new image.
/// </summary>
public sealed class ImageImporter(LayerStore layers, ImageCatalog images, Func<string, long, ILayerDisk> createDisk)
{
    public async Task<ImageRecord> ImportAsync(Stream rootfs, IReadOnlyList<string> changes, string? message, string? tag, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (prefix, gzipped) = await PeekGzipAsync(rootfs, cancellationToken).ConfigureAwait(false);
        await using var body = new Registry.PrefixedReadStream(prefix, rootfs);
        var layer = await layers.ImportAsync(body, gzipped, null, createDisk, cancellationToken).ConfigureAwait(false);

        var settings = new JsonObject();
        DockerfileChanges.Apply(settings, changes);
        var created = now.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", System.Globalization.CultureInfo.InvariantCulture);
        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["created"] = created,
            ["comment"] = message ?? "Imported from -",
            ["config"] = settings,
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(JsonValue.Create(layer.DiffId)) },
            ["history"] = new JsonArray(new JsonObject { ["created"] = created, ["comment"] = message ?? "Imported from -" }),
        };
        var bytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var labels = (settings["Labels"] as JsonObject)?.ToDictionary(l => l.Key, l => l.Value?.GetValue<string>() ?? "") ?? [];
        var record = new ImageRecord { Id = Digests.Sha256(bytes), DiffIds = [layer.DiffId], Size = layer.TarBytes, Created = now, Stored = now, Labels = labels };
        return images.Add(record, bytes, tag, null);
    }

    /// <summary>
    /// A new image: <paramref name="parentId"/>'s layers plus <paramref name="layerTar"/>, with
    /// <paramref name="settings"/> (the container's config, Dockerfile changes applied) as its config.
    /// </summary>
    public Task<ImageRecord> CommitAsync(string parentId, Stream layerTar, JsonObject settings, CommitInfo info, string? tag, DateTimeOffset now, CancellationToken cancellationToken) =>
        DeriveAsync(images.Find(parentId) ?? throw new InvalidOperationException($"No such image: {parentId}"), layerTar, settings, info, tag, now, cancellationToken);

    /// <summary>
    /// An image one step on from <paramref name="parent"/> (null: from scratch): its layers plus
    /// <paramref name="layerTar"/> when there is one (else a history entry marked
    /// <c>empty_layer</c>), with <paramref name="settings"/> as its config.
    /// </summary>
    public async Task<ImageRecord> DeriveAsync(ImageRecord? parent, Stream? layerTar, JsonObject settings, CommitInfo info, string? tag, DateTimeOffset now, CancellationToken cancellationToken, string? buildKey = null)
    {
        var parentConfig = parent is null ? [] : JsonNode.Parse(images.ReadConfig(parent.Id))!.AsObject();
        var layer = layerTar is null ? null : await layers.ImportAsync(layerTar, false, null, createDisk, cancellationToken).ConfigureAwait(false);

        var created = now.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", System.Globalization.CultureInfo.InvariantCulture);
        var history = parentConfig["history"] is JsonArray earlier ? (JsonArray)earlier.DeepClone() : [];
        var entry = new JsonObject { ["created"] = created, ["created_by"] = info.CreatedBy };
        if (info.Author.Length > 0)
        {
            entry["author"] = info.Author;
        }

        if (info.Comment.Length > 0)
        {
            entry["comment"] = info.Comment;
        }

        if (layer is null)
        {
            entry["empty_layer"] = true;
        }

        history.Add(entry);
        var diffIds = (parent?.DiffIds ?? []).Concat(layer is null ? [] : [layer.DiffId]).ToList();
        var config = new JsonObject
        {
            ["architecture"] = parentConfig["architecture"]?.DeepClone() ?? "amd64",
            ["os"] = parentConfig["os"]?.DeepClone() ?? "linux",
            ["author"] = info.Author,
            ["comment"] = info.Comment,
            ["container"] = info.ContainerId,
            ["created"] = created,
            ["config"] = settings,
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray([.. diffIds.Select(d => (JsonNode)d)]) },
            ["history"] = history,
        };
        if (info.ContainerConfig is { } containerConfig)
        {
            config["container_config"] = containerConfig.DeepClone();
        }

        var bytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var labels = (settings["Labels"] as JsonObject)?.ToDictionary(l => l.Key, l => l.Value?.GetValue<string>() ?? "") ?? [];
        var record = new ImageRecord
        {
            Id = Digests.Sha256(bytes),
            DiffIds = diffIds,
            Size = (parent?.Size ?? 0) + (layer?.TarBytes ?? 0),
            Created = now,
            Stored = now,
            Labels = labels,
            // A build step's and a commit's parent, as dockerd's graph keeps them (not an import's).
            Parent = buildKey is null && info.ContainerId.Length == 0 ? null : parent?.Id,
            BuildKey = buildKey,
        };
        return images.Add(record, bytes, tag, null);
    }

    private static async Task<(byte[] Prefix, bool Gzipped)> PeekGzipAsync(Stream stream, CancellationToken cancellationToken)
    {
        var prefix = new byte[2];
        var read = await stream.ReadAtLeastAsync(prefix, 2, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return (prefix[..read], read == 2 && prefix[0] == 0x1f && prefix[1] == 0x8b);
    }
}

/// <summary>Who made a committed image and from what, for its config and history.</summary>
/// <param name="ContainerConfig">
/// The committed container's own config (before <c>--change</c>), kept as the config's
/// <c>container_config</c> as dockerd's commit keeps it; image inspect shows it below API 1.45.
/// </param>
public sealed record CommitInfo(string ContainerId, string Author, string Comment, string CreatedBy, JsonObject? ContainerConfig = null);
