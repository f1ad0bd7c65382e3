using System.IO.Enumeration;
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
    private readonly Lock _buildGate = new();
    private readonly List<BuildLease> _builds = [];
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
                CertificateAuthorities = config.Registries.CertificateAuthorities,
                CertificatesDirectory = config.RegistryCertificatesPath,
                Proxies = config.Registries.Proxies,
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
            var containerConfig = (System.Text.Json.Nodes.JsonObject)settings.DeepClone();
            containerConfig["Image"] = container.Image;
            DockerfileChanges.Apply(settings, options.Changes);
            var createdBy = string.Join(' ', config.Args);
            var info = new CommitInfo(container.Id, options.Author, options.Comment, createdBy, containerConfig);
            var image = await _importer.CommitAsync(container.ImageId, layerTar, settings, info, name, DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
            return image;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not PortLayerException)
        {
            throw ImageErrors.Translate(ex);
        }
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

    public void Dispose() => _registry.Dispose();

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
