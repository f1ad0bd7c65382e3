using Vic.ImageStore.Layers;

namespace Vic.ImageStore.Tests;

/// <summary>A fake layer filesystem that records each call as one line, for checking what a tar turns into.</summary>
internal sealed class RecordingFilesystem : ILayerFilesystem
{
    public List<string> Calls { get; } = [];

    public void AddDirectory(string path, EntryMetadata metadata) => Calls.Add($"dir {path} {Convert.ToString(metadata.Mode, 8)}");

    public void AddFile(string path, EntryMetadata metadata, Stream content, long length)
    {
        using var reader = new StreamReader(content);
        Calls.Add($"file {path} {Convert.ToString(metadata.Mode, 8)} {metadata.Uid}:{metadata.Gid} {reader.ReadToEnd()}" +
            string.Concat(metadata.Xattrs.Select(x => $" {x.Key}={System.Text.Encoding.UTF8.GetString(x.Value)}")));
    }

    public void AddSymlink(string path, string target, EntryMetadata metadata) => Calls.Add($"symlink {path} -> {target}");

    public void AddHardLink(string path, string existingPath) => Calls.Add($"hardlink {path} => {existingPath}");

    public void AddCharacterDevice(string path, int major, int minor, EntryMetadata metadata) => Calls.Add($"chardev {path} {major}:{minor}");

    public void AddBlockDevice(string path, int major, int minor, EntryMetadata metadata) => Calls.Add($"blockdev {path} {major}:{minor}");

    public void AddFifo(string path, EntryMetadata metadata) => Calls.Add($"fifo {path}");

    public void AddWhiteout(string path) => Calls.Add($"whiteout {path}");

    public void MarkOpaque(string directory) => Calls.Add($"opaque {directory}");
}
