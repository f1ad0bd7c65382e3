using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Vic.TestSupport;

/// <summary>A blob written into the layout: what manifests refer to.</summary>
public sealed record OciBlob(string MediaType, string Digest, long Size, string? DiffId = null);

/// <summary>
/// Builds test images as an OCI image layout directory (the form skopeo copies into a registry):
/// layers from tar entries made in the test, a config, manifests and, for multi-platform images, an
/// index.
/// </summary>
public sealed class OciLayoutBuilder
{
    private readonly List<JsonObject> _indexEntries = [];

    public OciLayoutBuilder(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    }

    public string Directory { get; }

    /// <summary>
    /// Makes a gzip layer from the entries <paramref name="write"/> adds. Streams through temporary
    /// files, so a layer may hold far more than memory (a 5 GiB sparse file, say).
    /// </summary>
    public OciBlob AddLayer(Action<TarWriter> write)
    {
        var tarPath = Path.Combine(Directory, "layer.tar.tmp");
        var gzPath = Path.Combine(Directory, "layer.tar.gz.tmp");
        using (var tar = File.Create(tarPath))
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            write(writer);
        }

        string diffId;
        using (var tar = File.OpenRead(tarPath))
        {
            diffId = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
            tar.Position = 0;
            using var gz = File.Create(gzPath);
            using var gzip = new GZipStream(gz, CompressionLevel.Fastest);
            tar.CopyTo(gzip);
        }

        string hex;
        long size;
        using (var gz = File.OpenRead(gzPath))
        {
            hex = Convert.ToHexStringLower(SHA256.HashData(gz));
            size = gz.Length;
        }

        File.Move(gzPath, Path.Combine(Directory, "blobs", "sha256", hex), overwrite: true);
        File.Delete(tarPath);
        return new OciBlob("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + hex, size, diffId);
    }

    public OciBlob AddBlob(string mediaType, byte[] content)
    {
        var hex = Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(Path.Combine(Directory, "blobs", "sha256", hex), content);
        return new OciBlob(mediaType, "sha256:" + hex, content.Length);
    }

    /// <summary>Writes config and manifest for <paramref name="layers"/>; adds it to the index under <paramref name="tag"/> unless null.</summary>
    public OciBlob AddImage(IReadOnlyList<OciBlob> layers, string? tag, string architecture = "amd64", string[]? cmd = null, IReadOnlyDictionary<string, string>? labels = null)
    {
        var config = new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["created"] = "2024-01-01T00:00:00Z",
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                ["Cmd"] = new JsonArray([.. (cmd ?? ["sh"]).Select(c => (JsonNode)c!)]),
                ["Labels"] = labels is null ? null : new JsonObject(labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))),
            },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode)l.DiffId!)]) },
            ["history"] = new JsonArray([.. layers.Select((_, i) => (JsonNode)new JsonObject { ["created"] = "2024-01-01T00:00:00Z", ["created_by"] = $"test layer {i}" })]),
        };
        var configBlob = AddBlob("application/vnd.oci.image.config.v1+json", Encoding.UTF8.GetBytes(config.ToJsonString()));
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Describe(configBlob),
            ["layers"] = new JsonArray([.. layers.Select(l => (JsonNode)Describe(l))]),
        };
        var manifestBlob = AddBlob("application/vnd.oci.image.manifest.v1+json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        if (tag is not null)
        {
            AddIndexEntry(manifestBlob, tag, null);
        }

        return manifestBlob;
    }

    /// <summary>Writes an OCI index of per-platform manifests and tags it.</summary>
    public OciBlob AddIndex(IReadOnlyList<(OciBlob Manifest, string Architecture)> manifests, string tag)
    {
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray([.. manifests.Select(m =>
            {
                var entry = Describe(m.Manifest);
                entry["platform"] = new JsonObject { ["architecture"] = m.Architecture, ["os"] = "linux" };
                return (JsonNode)entry;
            })]),
        };
        var blob = AddBlob("application/vnd.oci.image.index.v1+json", Encoding.UTF8.GetBytes(index.ToJsonString()));
        AddIndexEntry(blob, tag, null);
        return blob;
    }

    private void AddIndexEntry(OciBlob blob, string tag, string? architecture)
    {
        var entry = Describe(blob);
        entry["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag };
        if (architecture is not null)
        {
            entry["platform"] = new JsonObject { ["architecture"] = architecture, ["os"] = "linux" };
        }

        _indexEntries.Add(entry);
        var index = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray([.. _indexEntries.Select(e => (JsonNode)e.DeepClone())]) };
        File.WriteAllText(Path.Combine(Directory, "index.json"), index.ToJsonString(new JsonSerializerOptions()));
    }

    private static JsonObject Describe(OciBlob blob) => new() { ["mediaType"] = blob.MediaType, ["digest"] = blob.Digest, ["size"] = blob.Size };
}

/// <summary>Short-hands for tar entries in test layers.</summary>
public static class TarEntries
{
    public static void File(this TarWriter writer, string name, string content, int mode = 0b110_100_100, int uid = 0, int gid = 0) =>
        writer.File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid);

    public static void File(this TarWriter writer, string name, byte[] content, int mode = 0b110_100_100, int uid = 0, int gid = 0)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(content),
            Mode = (UnixFileMode)mode,
            Uid = uid,
            Gid = gid,
            ModificationTime = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        writer.WriteEntry(entry);
    }

    /// <summary>A file of <paramref name="length"/> zero bytes followed by <paramref name="tail"/>, streamed.</summary>
    public static void SparseFile(this TarWriter writer, string name, long length, byte[] tail)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new ZerosThenTail(length, tail),
            Mode = (UnixFileMode)0b110_100_100,
            ModificationTime = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        writer.WriteEntry(entry);
    }

    /// <summary>An entry with extended attributes carried as PAX SCHILY.xattr records.</summary>
    public static void FileWithXattrs(this TarWriter writer, string name, string content, IReadOnlyDictionary<string, string> xattrs)
    {
        var pax = xattrs.ToDictionary(x => "SCHILY.xattr." + x.Key, x => x.Value);
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name, pax)
        {
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
            Mode = (UnixFileMode)0b111_101_101,
            ModificationTime = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        writer.WriteEntry(entry);
    }

    public static void Directory(this TarWriter writer, string name, int mode = 0b111_101_101) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode, ModificationTime = new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero) });

    public static void Symlink(this TarWriter writer, string name, string target) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0b111_111_111 });

    public static void HardLink(this TarWriter writer, string name, string target) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, name) { LinkName = target });
}

/// <summary>A read-only stream of zeros with some bytes at the end; never holds the zeros in memory.</summary>
internal sealed class ZerosThenTail(long zeros, byte[] tail) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => zeros + tail.Length;

    public override long Position
    {
        get => _position;
        set => _position = value;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = (int)Math.Min(count, Length - _position);
        var zeroCount = (int)Math.Clamp(zeros - _position, 0, n);
        Array.Clear(buffer, offset, zeroCount);
        if (n > zeroCount)
        {
            Array.Copy(tail, _position + zeroCount - zeros, buffer, offset + zeroCount, n - zeroCount);
        }

        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => _position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
