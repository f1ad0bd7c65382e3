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
        await using var body = new PrefixedStream(prefix, rootfs);
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
    public async Task<ImageRecord> CommitAsync(string parentId, Stream layerTar, JsonObject settings, CommitInfo info, string? tag, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var parent = images.Find(parentId) ?? throw new InvalidOperationException($"No such image: {parentId}");
        var parentConfig = JsonNode.Parse(images.ReadConfig(parent.Id))!.AsObject();
        var layer = await layers.ImportAsync(layerTar, false, null, createDisk, cancellationToken).ConfigureAwait(false);

        var created = now.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", System.Globalization.CultureInfo.InvariantCulture);
        var history = parentConfig["history"] is JsonArray earlier ? (JsonArray)earlier.DeepClone() : [];
        history.Add(new JsonObject { ["created"] = created, ["created_by"] = info.CreatedBy, ["author"] = info.Author, ["comment"] = info.Comment });
        var diffIds = parent.DiffIds.Append(layer.DiffId).ToList();
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
        var bytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var labels = (settings["Labels"] as JsonObject)?.ToDictionary(l => l.Key, l => l.Value?.GetValue<string>() ?? "") ?? [];
        var record = new ImageRecord { Id = Digests.Sha256(bytes), DiffIds = diffIds, Size = parent.Size + layer.TarBytes, Created = now, Stored = now, Labels = labels };
        return images.Add(record, bytes, tag, null);
    }

    private static async Task<(byte[] Prefix, bool Gzipped)> PeekGzipAsync(Stream stream, CancellationToken cancellationToken)
    {
        var prefix = new byte[2];
        var read = await stream.ReadAtLeastAsync(prefix, 2, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return (prefix[..read], read == 2 && prefix[0] == 0x1f && prefix[1] == 0x8b);
    }

    /// <summary>Gives back the bytes peeked from a stream that cannot seek, then the rest of it.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream rest) : Registry.ForwardReadStream
    {
        private int _offset;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                var n = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsSpan(_offset, n).CopyTo(buffer.Span);
                _offset += n;
                return ValueTask.FromResult(n);
            }

            return rest.ReadAsync(buffer, cancellationToken);
        }
    }
}

/// <summary>Who made a committed image and from what, for its config and history.</summary>
public sealed record CommitInfo(string ContainerId, string Author, string Comment, string CreatedBy);
