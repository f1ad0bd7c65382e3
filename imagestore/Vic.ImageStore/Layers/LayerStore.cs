using System.IO.Compression;
using System.Text.Json;

namespace Vic.ImageStore.Layers;

/// <summary>
/// One converted layer: its diffID, the size of its tar, its disk, and the gzip blob kept beside the
/// disk so the layer can be pushed and saved with its registry digest.
/// </summary>
public sealed record LayerInfo(string DiffId, long TarBytes, string DiskPath, DateTimeOffset Created, string BlobDigest, long BlobBytes, string BlobPath);

/// <summary>
/// Layers as disks, content-addressed by diffID and shared by every image that has them. A layer is
/// built in a scratch folder and renamed into place only when complete, so a process killed half way
/// leaves nothing that could be mistaken for a layer; the scratch is swept at the next start.
/// </summary>
public sealed class LayerStore
{
    public const string DiskFileName = "layer.vmdk";
    public const string BlobFileName = "layer.tar.gz";
    private const string InfoFileName = "layer.json";

    private readonly string _root;
    private readonly string _scratch;

    public LayerStore(string root, long layerCapacityBytes)
    {
        _root = Path.Combine(root, "layers");
        _scratch = Path.Combine(root, "layers.partial");
        LayerCapacityBytes = layerCapacityBytes;
        Directory.CreateDirectory(_root);
        if (Directory.Exists(_scratch))
        {
            Directory.Delete(_scratch, recursive: true);
        }

        Directory.CreateDirectory(_scratch);
        Quarantined = SetAsideUnsound(Path.Combine(root, "layers.quarantine"));
    }

    /// <summary>The layers found unsound when the store opened: set aside, not served; a pull fetches them again.</summary>
    public IReadOnlyList<QuarantinedLayer> Quarantined { get; }

    private List<QuarantinedLayer> SetAsideUnsound(string quarantine)
    {
        var found = new List<QuarantinedLayer>();
        foreach (var directory in Directory.EnumerateDirectories(_root).ToList())
        {
            if (LayerSoundness.Problem(directory, InfoFileName, DiskFileName, BlobFileName) is not { } problem)
            {
                continue;
            }

            var aside = Path.Combine(quarantine, $"{Path.GetFileName(directory)}-{DateTime.UtcNow:yyyyMMddHHmmss}");
            Directory.CreateDirectory(quarantine);
            Directory.Move(directory, aside);
            found.Add(new QuarantinedLayer($"sha256:{Path.GetFileName(directory)}", problem, aside));
        }

        return found;
    }

    /// <summary>The virtual size of every layer disk; one tar entry can be no larger.</summary>
    public long LayerCapacityBytes { get; }

    public LayerInfo? Find(string diffId)
    {
        var info = Path.Combine(_root, Registry.Digests.Hex(diffId), InfoFileName);
        return File.Exists(info) ? JsonSerializer.Deserialize<LayerInfo>(File.ReadAllText(info)) : null;
    }

    public IReadOnlyList<LayerInfo> List() =>
        [.. Directory.EnumerateDirectories(_root)
            .Select(d => Path.Combine(d, InfoFileName))
            .Where(File.Exists)
            .Select(f => JsonSerializer.Deserialize<LayerInfo>(File.ReadAllText(f))!)];

    /// <summary>
    /// Converts a layer blob (gzip or plain tar) to a disk in one pass, keeping a gzip copy of the blob.
    /// When <paramref name="expectedDiffId"/> is given (from the image config) a tar that hashes
    /// differently is refused.
    /// </summary>
    public async Task<LayerInfo> ImportAsync(Stream blob, bool gzipped, string? expectedDiffId, Func<string, long, ILayerDisk> createDisk, CancellationToken cancellationToken)
    {
        var work = Directory.CreateDirectory(Path.Combine(_scratch, Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            string diffId, blobDigest;
            long tarBytes, blobBytes;
            await using (var blobFile = new FileStream(Path.Combine(work, BlobFileName), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            await using (var stored = new HashingWriteStream(blobFile))
            {
                // A gzip blob is kept as it came (its digest is the registry's); a plain tar is gzipped on the way.
                var compressor = gzipped ? null : new GZipStream(stored, CompressionLevel.Fastest, leaveOpen: true);
                var tar = gzipped ? new GZipStream(new TeeReadStream(blob, stored), CompressionMode.Decompress) : (Stream)new TeeReadStream(blob, compressor!);
                await using (var hashing = new HashingReadStream(tar))
                using (var disk = createDisk(Path.Combine(work, DiskFileName), LayerCapacityBytes))
                {
                    try
                    {
                        var applier = new LayerTarApplier(disk.Filesystem, LayerCapacityBytes);
                        await applier.ApplyAsync(hashing, cancellationToken).ConfigureAwait(false);
                        diffId = await hashing.FinishAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (InvalidDataException ex)
                    {
                        throw new LayerRefusedException($"the layer is not a valid gzip stream: {ex.Message}");
                    }

                    tarBytes = hashing.BytesRead;
                    if (expectedDiffId is not null && diffId != expectedDiffId)
                    {
                        throw new LayerRefusedException($"layer content does not match the image config: expected diffID {expectedDiffId}, got {diffId}");
                    }

                    disk.Complete();
                }

                if (compressor is not null)
                {
                    await compressor.DisposeAsync().ConfigureAwait(false);
                }

                await tar.DisposeAsync().ConfigureAwait(false);
                blobDigest = stored.Digest();
                blobBytes = stored.BytesWritten;
                await blobFile.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            var final = Path.Combine(_root, Registry.Digests.Hex(diffId));
            if (Directory.Exists(final) && Find(diffId) is { } already)
            {
                return already;
            }

            var info = new LayerInfo(diffId, tarBytes, Path.Combine(final, DiskFileName), DateTimeOffset.UtcNow, blobDigest, blobBytes, Path.Combine(final, BlobFileName));
            await File.WriteAllTextAsync(Path.Combine(work, InfoFileName), JsonSerializer.Serialize(info), cancellationToken).ConfigureAwait(false);
            try
            {
                Directory.Move(work, final);
            }
            catch (IOException) when (Find(diffId) is { } concurrent)
            {
                // Another pull converted the same layer first; theirs is as good as ours.
                return concurrent;
            }

            return info;
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>Finds a layer by the digest of its stored blob (what a manifest names).</summary>
    public LayerInfo? FindByBlob(string blobDigest) => List().FirstOrDefault(l => l.BlobDigest == blobDigest);

    public void Delete(string diffId)
    {
        var directory = Path.Combine(_root, Registry.Digests.Hex(diffId));
        if (Directory.Exists(directory))
        {
            // Rename first: a crash mid-delete must not leave a layer with a half-deleted disk.
            var doomed = Path.Combine(_scratch, Guid.NewGuid().ToString("N"));
            Directory.Move(directory, doomed);
            Directory.Delete(doomed, recursive: true);
        }
    }
}

/// <summary>A layer disk being written: the filesystem to apply the tar to, then complete.</summary>
public interface ILayerDisk : IDisposable
{
    ILayerFilesystem Filesystem { get; }

    /// <summary>Finishes the filesystem and the disk file; before this the file is not a usable disk.</summary>
    void Complete();
}
