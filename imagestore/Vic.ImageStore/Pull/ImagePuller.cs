using Microsoft.Extensions.Logging;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.Registry;

namespace Vic.ImageStore.Pull;

/// <summary>
/// Pulls an image: manifest, config, then every layer not already held, each streamed once from the
/// registry through gunzip and the tar applier into its disk, several at a time. The image record
/// is written only after all its layers are in place.
/// </summary>
public sealed partial class ImagePuller
{
    private const int ConcurrentLayers = 3;

    private readonly RegistryClient _registry;
    private readonly LayerStore _layers;
    private readonly ImageCatalog _images;
    private readonly Func<string, long, ILayerDisk> _createDisk;
    private readonly ILogger _logger;

    public ImagePuller(RegistryClient registry, LayerStore layers, ImageCatalog images, Func<string, long, ILayerDisk> createDisk, ILogger logger)
    {
        _registry = registry;
        _layers = layers;
        _images = images;
        _createDisk = createDisk;
        _logger = logger;
    }

    public async Task<ImageRecord> PullAsync(ImageReference reference, RegistryCredentials? credentials, IProgress<PullProgress> progress, CancellationToken cancellationToken)
    {
        var session = _registry.Open(reference, credentials, RegistryAccess.Pull);
        // Nothing is reported before the manifest answers, so "not found" is a plain HTTP error.
        var pulled = await session.GetManifestAsync(cancellationToken).ConfigureAwait(false);
        progress.Report(new PullProgress(reference.Digest ?? reference.Tag, $"Pulling from {(reference.Registry == ImageReference.DockerHub ? reference.Repository : reference.FamiliarName)}"));
        var config = await session.GetBlobBytesAsync(pulled.Manifest.Config, cancellationToken).ConfigureAwait(false);
        var (diffIds, created, labels) = ImageConfigs.Read(config, pulled.Manifest.Layers.Count);

        var layers = pulled.Manifest.Layers;
        foreach (var layer in layers.Where(l => !MediaTypes.IsSupportedLayer(l.MediaType)))
        {
            throw new RegistryException(RegistryErrorKind.InvalidContent, $"unsupported layer media type {layer.MediaType} in {reference.FamiliarString}");
        }

        var work = new List<Task<LayerInfo>>();
        using var slots = new SemaphoreSlim(ConcurrentLayers);
        var started = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < layers.Count; i++)
        {
            var (layer, diffId) = (layers[i], diffIds[i]);
            var id = Registry.Digests.Hex(layer.Digest)[..12];
            if (_layers.Find(diffId) is not null || !started.Add(diffId))
            {
                progress.Report(new PullProgress(id, "Already exists"));
                continue;
            }

            progress.Report(new PullProgress(id, "Pulling fs layer"));
            work.Add(FetchLayerAsync(session, layer, diffId, id, slots, progress, cancellationToken));
        }

        await Task.WhenAll(work).ConfigureAwait(false);
        var size = diffIds.Distinct().Sum(d => _layers.Find(d)!.TarBytes);
        var imageId = pulled.Manifest.Config.Digest;
        var existing = _images.Find(imageId);
        var tag = reference.Digest is null ? reference.FamiliarString : null;
        var wasTagged = existing is not null && tag is not null && existing.RepoTags.Contains(tag);
        var record = _images.Add(
            new ImageRecord { Id = imageId, DiffIds = diffIds, Size = size, Created = created, Stored = DateTimeOffset.UtcNow, Labels = labels },
            config,
            tag,
            $"{reference.FamiliarName}@{pulled.RepositoryDigest}");

        progress.Report(new PullProgress(null, $"Digest: {pulled.RepositoryDigest}"));
        progress.Report(new PullProgress(null, wasTagged
            ? $"Status: Image is up to date for {reference.FamiliarString}"
            : $"Status: Downloaded newer image for {reference.FamiliarString}"));
        Log.Pulled(_logger, reference.FamiliarString, imageId, work.Count, layers.Count);
        return record;
    }

    private async Task<LayerInfo> FetchLayerAsync(RegistrySession session, Descriptor layer, string diffId, string id, SemaphoreSlim slots, IProgress<PullProgress> progress, CancellationToken cancellationToken)
    {
        await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var blob = await session.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
            await using var counted = new ProgressReadStream(blob, layer.Size, (current, total) => progress.Report(new PullProgress(id, "Downloading", current, total)));
            var info = await _layers.ImportAsync(counted, MediaTypes.IsGzipLayer(layer.MediaType), diffId, _createDisk, cancellationToken).ConfigureAwait(false);

            progress.Report(new PullProgress(id, "Verifying Checksum"));
            progress.Report(new PullProgress(id, "Download complete"));
            progress.Report(new PullProgress(id, "Pull complete"));
            return info;
        }
        finally
        {
            slots.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "pulled {Reference} as {ImageId}: {Fetched} of {Layers} layers fetched")]
        public static partial void Pulled(ILogger logger, string reference, string imageId, int fetched, int layers);
    }
}
