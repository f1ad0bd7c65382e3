using System.Text;
using System.Text.Json;
using Vic.ImageStore.Images;
using Vic.ImageStore.Layers;
using Vic.ImageStore.Pull;
using Vic.Registry;

namespace Vic.ImageStore.Push;

/// <summary>
/// Pushes an image: each layer's kept gzip blob (skipped when the registry has it), the config, then
/// a Docker schema2 manifest under the tag. Reports progress with <c>docker push</c>'s lines.
/// </summary>
public sealed class ImagePusher(RegistryClient registry, LayerStore layers, ImageCatalog images)
{
    public async Task<string> PushAsync(ImageRecord image, ImageReference target, RegistryCredentials? credentials, IProgress<PullProgress> progress, CancellationToken cancellationToken)
    {
        var session = registry.Open(target, credentials, RegistryAccess.PullPush);
        progress.Report(new PullProgress(null, $"The push refers to repository [{(target.Registry == ImageReference.DockerHub ? "docker.io/" + target.Repository : target.Registry + "/" + target.Repository)}]"));
        var stored = image.DiffIds.Select(d => layers.Find(d) ?? throw new InvalidOperationException($"layer {d} of {image.Id} is missing from the store")).ToList();
        foreach (var layer in stored.AsEnumerable().Reverse())
        {
            var id = Digests.Hex(layer.BlobDigest)[..12];
            progress.Report(new PullProgress(id, "Preparing"));
            if (await session.BlobExistsAsync(layer.BlobDigest, cancellationToken).ConfigureAwait(false))
            {
                progress.Report(new PullProgress(id, "Layer already exists"));
                continue;
            }

            progress.Report(new PullProgress(id, "Pushing", 0, layer.BlobBytes));
            await session.UploadBlobAsync(layer.BlobDigest, layer.BlobBytes, () => File.OpenRead(layer.BlobPath), cancellationToken).ConfigureAwait(false);
            progress.Report(new PullProgress(id, "Pushed"));
        }

        var config = images.ReadConfig(image.Id);
        if (!await session.BlobExistsAsync(image.Id, cancellationToken).ConfigureAwait(false))
        {
            await session.UploadBlobAsync(image.Id, config.Length, () => new MemoryStream(config), cancellationToken).ConfigureAwait(false);
        }

        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.DockerManifest,
            Config = new Descriptor { MediaType = MediaTypes.DockerConfig, Digest = image.Id, Size = config.Length },
            Layers = [.. stored.Select(l => new Descriptor { MediaType = MediaTypes.DockerLayerGzip, Digest = l.BlobDigest, Size = l.BlobBytes })],
        };
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(manifest));
        var digest = await session.PutManifestAsync(target.ManifestReference, MediaTypes.DockerManifest, bytes, cancellationToken).ConfigureAwait(false);
        images.Add(image, config, null, $"{target.FamiliarName}@{digest}");
        progress.Report(new PullProgress(null, $"{target.ManifestReference}: digest: {digest} size: {bytes.Length}"));
        return digest;
    }
}
