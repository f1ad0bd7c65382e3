using System.Text.Json;
using Vic.ImageStore.Archive;
using Vic.ImageStore.Images;
using Vic.ImageStore.Pull;
using Vic.ImageStore.Push;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.Registry;

namespace Vic.PortLayer.Images;

/// <summary>The images held: resolve, inspect, list, tag, remove, history and prune, as dockerd answers them.</summary>
public sealed partial class ImageService
{
    public ImageRecord Resolve(string nameOrId) =>
        Catalog.Find(nameOrId) ?? throw PortLayerException.NotFound($"No such image: {nameOrId}");

    public ImageDetails Inspect(string nameOrId)
    {
        var image = Resolve(nameOrId);
        return new ImageDetails(image, Catalog.ReadConfig(image.Id), image.DiffIds);
    }

    /// <summary>
    /// The images a filter picks; without <paramref name="all"/> a build's intermediate images (no
    /// name, and another image made from them) are left out, as dockerd leaves them out.
    /// </summary>
    public IReadOnlyList<ImageRecord> List(IReadOnlyDictionary<string, IReadOnlySet<string>> filters, bool all = false)
    {
        foreach (var key in filters.Keys.Where(k => !ListFilters.Contains(k)))
        {
            throw PortLayerException.InvalidParameter($"invalid filter '{key}'");
        }

        IEnumerable<ImageRecord> images = Catalog.List();
        if (!all)
        {
            var parents = images.Select(i => i.Parent).OfType<string>().ToHashSet(StringComparer.Ordinal);
            images = images.Where(i => !i.IsDangling || !parents.Contains(i.Id)).ToList();
        }

        if (filters.TryGetValue("dangling", out var dangling))
        {
            var wanted = dangling.Single() switch
            {
                "true" or "1" => true,
                "false" or "0" => false,
                var other => throw PortLayerException.InvalidParameter($"invalid filter 'dangling={other}'"),
            };
            images = images.Where(i => i.IsDangling == wanted);
        }

        if (filters.TryGetValue("reference", out var patterns))
        {
            images = images.Where(i => i.RepoTags.Concat(i.RepoDigests).Any(name => patterns.Any(p => MatchesReference(p, name))));
        }

        if (filters.TryGetValue("before", out var before))
        {
            var pivot = Resolve(before.Single());
            images = images.Where(i => i.Created < pivot.Created);
        }

        if (filters.TryGetValue("since", out var since))
        {
            var pivot = Resolve(since.Single());
            images = images.Where(i => i.Created > pivot.Created);
        }

        if (filters.TryGetValue("label", out var labels))
        {
            images = images.Where(i => labels.All(l => l.Split('=', 2) is var kv && i.Labels.TryGetValue(kv[0], out var v) && (kv.Length == 1 || v == kv[1])));
        }

        return [.. images];
    }

    public void Tag(string source, string repository, string? tag)
    {
        var image = Resolve(source);
        var target = ImageReference.TryParse(tag is { Length: > 0 } ? $"{repository}:{tag}" : repository, out var parsed, out var error)
            ? parsed
            : throw PortLayerException.InvalidParameter(error);
        if (target.Digest is not null)
        {
            throw PortLayerException.InvalidParameter("refusing to create a tag with a digest reference");
        }

        Catalog.Tag(image.Id, target.FamiliarString);
        _events.Publish(EventTypes.Image, "tag", image.Id, new Dictionary<string, string> { ["name"] = target.FamiliarString });
    }

    public IReadOnlyList<ImageDeletion> Remove(string nameOrId, bool force, bool prune)
    {
        var image = Resolve(nameOrId);
        var user = _containers.List().FirstOrDefault(c => UsesImage(c, image));
        var results = new List<ImageDeletion>();
        var byName = ImageReference.TryParse(nameOrId, out var reference, out _)
            && (image.RepoTags.Contains(reference.FamiliarString) || image.RepoDigests.Contains(reference.FamiliarString));

        if (byName)
        {
            // By name, dockerd removes the name; the image goes only with its last name.
            var names = image.RepoTags.Count + image.RepoDigests.Count;
            if (user is not null && !force && names == 1)
            {
                throw PortLayerException.Conflict(
                    $"conflict: unable to remove repository reference \"{nameOrId}\" (must force) - container {user.Id[..12]} is using its referenced image {image.ShortId}");
            }

            image = Untag(image, reference.FamiliarString, results);

            // A repository's digests go with its last tag, as dockerd's do.
            var sameRepository = reference.FamiliarName + "@";
            if (!image.RepoTags.Any(t => ImageReference.Parse(t).FamiliarName == reference.FamiliarName))
            {
                foreach (var digest in image.RepoDigests.Where(d => d.StartsWith(sameRepository, StringComparison.Ordinal)).ToList())
                {
                    image = Untag(image, digest, results);
                }
            }

            if (image.RepoTags.Count > 0 || image.RepoDigests.Count > 0)
            {
                return results;
            }

            if (user is null && ChildOf(image) is null)
            {
                Delete(image, prune, results);
            }

            return results;
        }

        if (image.RepoTags.Count > 1 && !force)
        {
            throw PortLayerException.Conflict($"conflict: unable to delete {image.ShortId} (must be forced) - image is referenced in multiple repositories");
        }

        if (ChildOf(image) is not null)
        {
            throw PortLayerException.Conflict($"conflict: unable to delete {image.ShortId} (cannot be forced) - image has dependent child images");
        }

        if (user is not null)
        {
            var how = user.Status.IsRunning || force ? "cannot be forced" : "must be forced";
            var state = user.Status.IsRunning ? "running" : "stopped";
            throw PortLayerException.Conflict($"conflict: unable to delete {image.ShortId} ({how}) - image is being used by {state} container {user.Id[..12]}");
        }

        foreach (var name in image.RepoTags.Concat(image.RepoDigests).ToList())
        {
            image = Untag(image, name, results);
        }

        Delete(image, prune, results);
        return results;
    }

    public IReadOnlyList<ImageHistoryItem> History(string nameOrId)
    {
        var image = Resolve(nameOrId);
        using var config = JsonDocument.Parse(Catalog.ReadConfig(image.Id));
        var sizes = new Queue<long>(image.DiffIds.Select(d => _layers.Find(d)?.TarBytes ?? 0));
        var rows = new List<ImageHistoryItem>();
        if (config.RootElement.TryGetProperty("history", out var history) && history.ValueKind == JsonValueKind.Array)
        {
            foreach (var entry in history.EnumerateArray())
            {
                var empty = entry.TryGetProperty("empty_layer", out var e) && e.ValueKind == JsonValueKind.True;
                rows.Add(new ImageHistoryItem(
                    "<missing>",
                    entry.TryGetProperty("created", out var c) && c.TryGetDateTimeOffset(out var created) ? created : image.Created,
                    entry.TryGetProperty("created_by", out var by) ? by.GetString() ?? "" : "",
                    [],
                    empty || sizes.Count == 0 ? 0 : sizes.Dequeue(),
                    entry.TryGetProperty("comment", out var comment) ? comment.GetString() ?? "" : ""));
            }
        }

        if (rows.Count == 0)
        {
            rows.Add(new ImageHistoryItem("<missing>", image.Created, "", [], image.Size, ""));
        }

        rows[^1] = rows[^1] with { Id = image.Id, Tags = image.RepoTags };
        rows.Reverse();
        return rows;
    }

    /// <summary>
    /// Removes dangling images (or, with <paramref name="all"/>, every image no container uses)
    /// that <paramref name="selected"/> also picks (the prune filters: until, label).
    /// </summary>
    public ImagePruneReport Prune(bool all, Func<ImageRecord, bool> selected)
    {
        var results = new List<ImageDeletion>();
        long reclaimed = 0;
        var layersBefore = _layers.List().ToDictionary(l => l.DiffId, l => l.TarBytes);
        foreach (var listed in Catalog.List())
        {
            // A parent goes with its last child (Delete prunes the chain), never before it.
            if (Catalog.Find(listed.Id) is not { } image || ChildOf(image) is not null)
            {
                continue;
            }

            if ((all || image.IsDangling) && selected(image) && !_containers.List().Any(c => UsesImage(c, image)))
            {
                var current = image;
                foreach (var name in image.RepoTags.Concat(image.RepoDigests).ToList())
                {
                    current = Untag(current, name, results);
                }

                Delete(current, prune: true, results);
            }
        }

        var layersAfter = _layers.List().Select(l => l.DiffId).ToHashSet();
        reclaimed = layersBefore.Where(l => !layersAfter.Contains(l.Key)).Sum(l => l.Value);
        return new ImagePruneReport(results, reclaimed);
    }

    private ImageRecord Untag(ImageRecord image, string name, List<ImageDeletion> results)
    {
        var updated = Catalog.Untag(image.Id, name);
        results.Add(new ImageDeletion(name, null));
        _events.Publish(EventTypes.Image, "untag", image.Id, new Dictionary<string, string> { ["name"] = name });
        return updated;
    }

    private void Delete(ImageRecord image, bool prune, List<ImageDeletion> results)
    {
        Catalog.Delete(image.Id);
        results.Add(new ImageDeletion(null, image.Id));
        _events.Publish(EventTypes.Image, "delete", image.Id, new Dictionary<string, string> { ["name"] = image.Id });
        if (!prune)
        {
            return;
        }

        var inUse = Catalog.LayersInUse();
        foreach (var diffId in image.DiffIds.Distinct().Where(d => !inUse.Contains(d)))
        {
            _layers.Delete(diffId);
            results.Add(new ImageDeletion(null, diffId));
        }

        // dockerd's rmi takes the build's unnamed parents along, up to one that is named or still needed.
        if (image.Parent is { } parentId && Catalog.Find(parentId) is { IsDangling: true, RepoDigests.Count: 0 } parent
            && ChildOf(parent) is null && !_containers.List().Any(c => UsesImage(c, parent)))
        {
            Delete(parent, prune, results);
        }
    }

    private ImageRecord? ChildOf(ImageRecord image) => Catalog.List().FirstOrDefault(i => i.Parent == image.Id);

    private bool UsesImage(ContainerRecord container, ImageRecord image) =>
        container.ImageId == image.Id || (container.ImageId.Length == 0 && Catalog.Find(container.Image)?.Id == image.Id);
}
