using System.IO.Enumeration;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Vic.ImageStore.Archive;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.ImageStore.Pull;
using Vic.ImageStore.Push;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Errors;
using Vic.PortLayer.Events;
using Vic.PortLayer.Vch;
using Vic.Registry;

namespace Vic.PortLayer.Images;

/// <summary>
/// The port layer's view of images: pulls through the image store, answers the image commands with
/// dockerd's rules (which name an <c>rmi</c> removes, when it must be forced), refuses to delete what
/// a container uses, and publishes image events.
/// </summary>
public sealed partial class ImageService : IDisposable
{
    private static readonly HashSet<string> ListFilters = ["dangling", "reference", "before", "since", "label"];

    private readonly EventBus _events;
    private readonly ContainerCatalog _containers;
    private readonly RegistryClient _registry;
    private readonly LayerStore _layers;
    private readonly ImagePuller _puller;
    private readonly ImagePusher _pusher;
    private readonly ImageArchive _archive;
    private readonly ImageImporter _importer;
    private readonly string _scratch;

    public ImageService(VchConfig config, EventBus events, ContainerCatalog containers, ILoggerFactory loggers)
    {
        _events = events;
        _containers = containers;
        _registry = new RegistryClient(
            new RegistryOptions
            {
                Mirrors = [.. config.Registries.Mirrors.Select(m => new Uri(m))],
                InsecureRegistries = config.Registries.InsecureRegistries,
                CertificatesDirectory = config.RegistryCertificatesPath,
            },
            loggers.CreateLogger<RegistryClient>());
        _layers = new LayerStore(config.ImageStorePath, config.LayerCapacityBytes);
        Catalog = new ImageCatalog(config.ImageStorePath);
        Func<string, long, ILayerDisk> disks = (path, capacity) => new Ext4VmdkLayerDisk(path, capacity);
        _puller = new ImagePuller(_registry, _layers, Catalog, disks, loggers.CreateLogger<ImagePuller>());
        _pusher = new ImagePusher(_registry, _layers, Catalog);
        _archive = new ImageArchive(_layers, Catalog, disks);
        _importer = new ImageImporter(_layers, Catalog, disks);
        _scratch = Path.Combine(config.ImageStorePath, "scratch");
        Directory.CreateDirectory(_scratch);
    }

    public ImageCatalog Catalog { get; }

    public LayerStore Layers => _layers;

    public async Task<ImageRecord> PullAsync(string reference, RegistryCredentials? credentials, IProgress<PullProgress> progress, CancellationToken cancellationToken)
    {
        try
        {
            var parsed = ImageReference.Parse(reference);
            var image = await _puller.PullAsync(parsed, credentials, progress, cancellationToken).ConfigureAwait(false);
            _events.Publish(EventTypes.Image, "pull", parsed.FamiliarString, new Dictionary<string, string> { ["name"] = parsed.FamiliarName });
            return image;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

    /// <summary><c>GET /distribution/{name}/json</c>: the registry's descriptor of what the name points at, and its platforms.</summary>
    public async Task<(Descriptor Descriptor, IReadOnlyList<Platform> Platforms)> InspectDistributionAsync(string reference, RegistryCredentials? credentials, CancellationToken cancellationToken)
    {
        try
        {
            var session = _registry.Open(ImageReference.Parse(reference), credentials, RegistryAccess.Pull);
            return await session.InspectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

    /// <summary>
    /// Pushes <paramref name="name"/> (a repository, with or without tag); with no tag every tag of
    /// that repository is pushed, as <c>docker push</c> does.
    /// </summary>
    public async Task PushAsync(string name, string? tag, RegistryCredentials? credentials, IProgress<PullProgress> progress, CancellationToken cancellationToken)
    {
        try
        {
            var repository = ImageReference.Parse(name);
            var references = tag is { Length: > 0 }
                ? [repository.WithTag(tag)]
                : Catalog.List().SelectMany(i => i.RepoTags).Select(ImageReference.Parse).Where(r => r.Registry == repository.Registry && r.Repository == repository.Repository).ToList();
            if (references.Count == 0 || references.Any(r => Catalog.Find(r.FamiliarString) is null))
            {
                throw PortLayerException.NotFound($"An image does not exist locally with the tag: {repository.FamiliarName}");
            }

            foreach (var reference in references)
            {
                var image = Catalog.Find(reference.FamiliarString)!;
                await _pusher.PushAsync(image, reference, credentials, progress, cancellationToken).ConfigureAwait(false);
                _events.Publish(EventTypes.Image, "push", reference.FamiliarString, new Dictionary<string, string> { ["name"] = reference.FamiliarName });
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

    /// <summary>Writes a <c>docker save</c> archive of the named images (names keep their tags; ids save untagged).</summary>
    public async Task SaveAsync(IReadOnlyList<string> names, Stream output, CancellationToken cancellationToken)
    {
        var selection = new List<(ImageRecord, IReadOnlyList<string>)>();
        foreach (var name in names)
        {
            var image = Resolve(name);
            IReadOnlyList<string> tags = ImageReference.TryParse(name, out var reference, out _) && image.RepoTags.Contains(reference.FamiliarString)
                ? [reference.FamiliarString]
                : [];
            selection.Add((image, tags));
            _events.Publish(EventTypes.Image, "save", image.Id, new Dictionary<string, string> { ["name"] = name });
        }

        await _archive.SaveAsync(selection, output, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<LoadedImage>> LoadAsync(Stream archive, CancellationToken cancellationToken)
    {
        try
        {
            var loaded = await _archive.LoadAsync(archive, _scratch, cancellationToken).ConfigureAwait(false);
            foreach (var image in loaded)
            {
                _events.Publish(EventTypes.Image, "load", image.Id, new Dictionary<string, string> { ["name"] = image.Tags.Count > 0 ? image.Tags[0] : image.Id });
            }

            return loaded;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

    public async Task<ImageRecord> ImportAsync(Stream rootfs, string? repository, string? tag, IReadOnlyList<string> changes, string? message, CancellationToken cancellationToken)
    {
        try
        {
            string? name = null;
            if (repository is { Length: > 0 })
            {
                name = ImageReference.Parse(tag is { Length: > 0 } ? $"{repository}:{tag}" : repository).FamiliarString;
            }

            var image = await _importer.ImportAsync(rootfs, changes, message, name, DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
            _events.Publish(EventTypes.Image, "import", image.Id, new Dictionary<string, string> { ["name"] = name ?? image.Id });
            return image;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

    /// <summary>docker commit: the container's config (with --change applied) over its image, plus its layer.</summary>
    public async Task<ImageRecord> CommitAsync(ContainerRecord container, Stream layerTar, Runtime.CommitOptions options, CancellationToken cancellationToken)
    {
        try
        {
            string? name = null;
            if (options.Repository is { Length: > 0 } repository)
            {
                name = ImageReference.Parse(options.Tag is { Length: > 0 } tag ? $"{repository}:{tag}" : repository).FamiliarString;
            }

            var config = container.Config;
            var settings = new System.Text.Json.Nodes.JsonObject
            {
                ["Hostname"] = config.Hostname,
                ["Domainname"] = config.Domainname,
                ["User"] = config.User,
                ["Env"] = new System.Text.Json.Nodes.JsonArray([.. config.Env.Select(e => (System.Text.Json.Nodes.JsonNode)e)]),
                ["Cmd"] = new System.Text.Json.Nodes.JsonArray([.. config.Cmd.Select(e => (System.Text.Json.Nodes.JsonNode)e)]),
                ["Entrypoint"] = config.Entrypoint.Count == 0 ? null : new System.Text.Json.Nodes.JsonArray([.. config.Entrypoint.Select(e => (System.Text.Json.Nodes.JsonNode)e)]),
                ["WorkingDir"] = config.WorkingDir,
                ["Labels"] = new System.Text.Json.Nodes.JsonObject(container.Labels.Select(l => KeyValuePair.Create(l.Key, (System.Text.Json.Nodes.JsonNode?)l.Value))),
                ["StopSignal"] = config.StopSignal == "SIGTERM" ? null : config.StopSignal,
            };
            DockerfileChanges.Apply(settings, options.Changes);
            var createdBy = string.Join(' ', config.Args);
            var image = await _importer.CommitAsync(container.ImageId, layerTar, settings, new CommitInfo(container.Id, options.Author, options.Comment, createdBy), name, DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
            return image;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not PortLayerException)
        {
            throw ImageErrors.Translate(ex);
        }
    }

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
    public ImageRecord? FindBuildStep(string? parentId, string buildKey, Func<ImageRecord, bool> allowed) =>
        Catalog.List().FirstOrDefault(i => i.Parent == parentId && i.BuildKey == buildKey && allowed(i) && i.DiffIds.All(d => _layers.Find(d) is not null));

    /// <summary>
    /// <c>docker builder prune</c>: the images builds made that nothing names or runs (the steps the
    /// cache finds again, and stages of multi-stage builds), and the layers only they held.
    /// </summary>
    public (IReadOnlyList<string> Deleted, long Reclaimed) PruneBuildCache(Func<ImageRecord, bool> selected)
    {
        var deleted = new List<ImageRecord>();
        foreach (var image in Catalog.List().Where(i => i.BuildKey is not null && i.IsDangling && i.RepoDigests.Count == 0 && selected(i)))
        {
            if (!_containers.List().Any(c => UsesImage(c, image)))
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

    /// <summary>Bytes of all layer tars held, each layer counted once: <c>LayersSize</c> of <c>docker system df</c>.</summary>
    public long LayersSize => _layers.List().Sum(l => l.TarBytes);

    /// <summary>Bytes an image shares with other images (layers they also use).</summary>
    public long SharedSize(ImageRecord image)
    {
        var others = Catalog.List().Where(i => i.Id != image.Id).SelectMany(i => i.DiffIds).ToHashSet(StringComparer.Ordinal);
        return image.DiffIds.Distinct().Where(others.Contains).Sum(d => _layers.Find(d)?.TarBytes ?? 0);
    }

    /// <summary>How many containers use an image.</summary>
    public int ContainersUsing(ImageRecord image) => _containers.List().Count(c => UsesImage(c, image));

    /// <summary>Checks credentials against a registry for <c>docker login</c>.</summary>
    public async Task LoginAsync(string registry, RegistryCredentials credentials, CancellationToken cancellationToken)
    {
        try
        {
            await _registry.CheckLoginAsync(registry, credentials, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.Unauthorized)
        {
            throw new PortLayerException(ErrorKind.Unauthorized, $"login attempt to {registry} failed with status: 401 Unauthorized", ex);
        }
        catch (RegistryException ex)
        {
            throw ImageErrors.Translate(ex);
        }
    }

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

    public void Dispose() => _registry.Dispose();

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

    private static bool MatchesReference(string pattern, string familiar)
    {
        // dockerd matches the pattern against the name alone and against name:tag.
        var at = familiar.IndexOf('@', StringComparison.Ordinal);
        var colon = familiar.LastIndexOf(':');
        var slash = familiar.LastIndexOf('/');
        var name = at >= 0 ? familiar[..at] : colon > slash ? familiar[..colon] : familiar;
        return FileSystemName.MatchesSimpleExpression(pattern, familiar, ignoreCase: false)
            || FileSystemName.MatchesSimpleExpression(pattern, name, ignoreCase: false);
    }
}
