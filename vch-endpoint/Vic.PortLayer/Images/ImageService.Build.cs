using System.Text.Json;
using Microsoft.Extensions.Logging;
using Vic.ImageStore.Archive;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.ImageStore.Push;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.Registry;

namespace Vic.PortLayer.Images;

/// <summary>What docker build asks of the image store: images derived step by step, the build cache and its prune.</summary>
public sealed partial class ImageService
{
    /// <summary>
    /// A build step's image: <paramref name="parentId"/> (null: scratch) one step on, with
    /// <paramref name="settings"/> as its config and <paramref name="layerTar"/> as its new layer if
    /// the step made one. <paramref name="buildKey"/> finds it again for the build cache.
    /// </summary>
    public async Task<ImageRecord> DeriveAsync(string? parentId, Stream? layerTar, System.Text.Json.Nodes.JsonObject settings, CommitInfo info, string buildKey, CancellationToken cancellationToken)
    {
        try
        {
            var parent = parentId is null ? null : Resolve(parentId);
            return await _importer.DeriveAsync(parent, layerTar, settings, info, null, DateTimeOffset.UtcNow, cancellationToken, buildKey).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not PortLayerException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

    /// <summary>The image an earlier build made from <paramref name="parentId"/> by the same step, if it is still whole.</summary>
    /// <param name="lease">The build that takes the image: it is held for it, so a builder prune leaves it be.</param>
    public ImageRecord? FindBuildStep(string? parentId, string buildKey, Func<ImageRecord, bool> allowed, BuildLease? lease = null)
    {
        lock (_buildGate)
        {
            var found = Catalog.List().FirstOrDefault(i => i.Parent == parentId && i.BuildKey == buildKey && allowed(i) && i.DiffIds.All(d => _layers.Find(d) is not null));
            if (found is not null)
            {
                lease?.Held.Add(found.Id);
            }

            return found;
        }
    }

    /// <summary>
    /// A build begins: until its lease is disposed, <see cref="PruneBuildCache"/> leaves alone the
    /// images it made (stored since it began) and those it took from the cache or started from.
    /// </summary>
    public BuildLease BeginBuild()
    {
        lock (_buildGate)
        {
            var lease = new BuildLease(DateTimeOffset.UtcNow, this);
            _builds.Add(lease);
            return lease;
        }
    }

    /// <summary>Holds an image a build starts from (its FROM) for the build's length.</summary>
    public void Hold(BuildLease lease, string imageId)
    {
        lock (_buildGate)
        {
            lease.Held.Add(imageId);
        }
    }

    private void End(BuildLease lease)
    {
        lock (_buildGate)
        {
            _builds.Remove(lease);
        }
    }

    private bool HeldByABuild(ImageRecord image) => _builds.Any(b => b.Held.Contains(image.Id) || image.Stored >= b.StartedAt);

    /// <summary>A running build's claim on the images it builds on.</summary>
    public sealed class BuildLease : IDisposable
    {
        private readonly ImageService _images;

        internal BuildLease(DateTimeOffset startedAt, ImageService images)
        {
            StartedAt = startedAt;
            _images = images;
        }

        internal DateTimeOffset StartedAt { get; }

        internal HashSet<string> Held { get; } = new(StringComparer.Ordinal);

        public void Dispose() => _images.End(this);
    }

    /// <summary>
    /// <c>docker builder prune</c>: the images builds made that nothing names or runs (the steps the
    /// cache finds again, and stages of multi-stage builds), and the layers only they held.
    /// </summary>
    public (IReadOnlyList<string> Deleted, long Reclaimed) PruneBuildCache(Func<ImageRecord, bool> selected)
    {
        lock (_buildGate)
        {
            return PruneBuildCacheLocked(selected);
        }
    }

    private (IReadOnlyList<string> Deleted, long Reclaimed) PruneBuildCacheLocked(Func<ImageRecord, bool> selected)
    {
        var deleted = new List<ImageRecord>();
        foreach (var image in Catalog.List().Where(i => i.BuildKey is not null && i.IsDangling && i.RepoDigests.Count == 0 && selected(i)))
        {
            if (!_containers.List().Any(c => UsesImage(c, image)) && !HeldByABuild(image))
            {
                Catalog.Delete(image.Id);
                deleted.Add(image);
            }
        }

        // Only the deleted images' layers: a layer no image names yet may be a pull's, still on its way.
        var inUse = Catalog.LayersInUse();
        long reclaimed = 0;
        foreach (var layer in deleted.SelectMany(i => i.DiffIds).Distinct().Where(d => !inUse.Contains(d)).Select(_layers.Find).OfType<LayerInfo>())
        {
            _layers.Delete(layer.DiffId);
            reclaimed += layer.TarBytes;
        }

        return ([.. deleted.Select(i => i.Id)], reclaimed);
    }

    /// <summary>The images that <paramref name="names"/> (those this VCH has) were built from, themselves included, along their parent chains.</summary>
    public IReadOnlySet<string> BuildChains(IEnumerable<string> names)
    {
        var chain = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            for (var image = Catalog.Find(name); image is not null && chain.Add(image.Id); image = image.Parent is { } parent ? Catalog.Find(parent) : null)
            {
            }
        }

        return chain;
    }

    /// <summary>The <c>config</c> object of an image's config: what a build step starts from.</summary>
    public System.Text.Json.Nodes.JsonObject SettingsOf(string id) =>
        System.Text.Json.Nodes.JsonNode.Parse(Catalog.ReadConfig(id))?["config"] is System.Text.Json.Nodes.JsonObject settings ? (System.Text.Json.Nodes.JsonObject)settings.DeepClone() : [];

    /// <summary>Names an image as a build's <c>-t</c> does, publishing dockerd's tag event.</summary>
    public void TagBuilt(string id, string name)
    {
        var target = ImageReference.TryParse(name, out var parsed, out var error) ? parsed : throw PortLayerException.InvalidParameter($"invalid tag {name}: {error}");
        Catalog.Tag(id, target.FamiliarString);
        _events.Publish(EventTypes.Image, "tag", id, new Dictionary<string, string> { ["name"] = target.FamiliarString });
    }
}
