using System.Formats.Tar;
using Vic.Build.Context;
using Vic.Build.Steps;

namespace Vic.Build.Tests;

public sealed class CopySourcesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vic-copy").FullName;

    public CopySourcesTests()
    {
        foreach (var file in new[] { "a.txt", "b.txt", "c.md", "dir/inner.txt", "dir/deep/x.txt" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(_root, file))!);
            File.WriteAllText(Path.Combine(_root, file), file);
        }

        File.CreateSymbolicLink(Path.Combine(_root, "outside"), "/etc");
    }

    [Fact]
    public void WildcardsMatchWithinOneFolderLevelAndFoldersCopyTheirContents()
    {
        var sources = CopySources.Find(_root, ["*.txt", "dir"], extractArchives: false, "COPY");

        Assert.Equal([("a.txt", CopySourceKind.File), ("b.txt", CopySourceKind.File), ("dir", CopySourceKind.FolderContents)], sources.Select(s => (s.Written, s.Kind)));
    }

    [Fact]
    public void SourcesOutsideTheContextOrMissingAreRefused()
    {
        Assert.Contains("forbidden path outside the build context", Assert.Throws<BuildException>(() => CopySources.Find(_root, ["../x"], false, "COPY")).Message, StringComparison.Ordinal);
        Assert.Contains("file not found in build context", Assert.Throws<BuildException>(() => CopySources.Find(_root, ["nope"], false, "COPY")).Message, StringComparison.Ordinal);
        Assert.Contains("no source files were specified", Assert.Throws<BuildException>(() => CopySources.Find(_root, ["*.none"], false, "COPY")).Message, StringComparison.Ordinal);

        // A symlink to /etc is followed as if the context were the root: there is no etc in it.
        Assert.Contains("file not found in build context", Assert.Throws<BuildException>(() => CopySources.Find(_root, ["outside/passwd"], false, "COPY")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheChecksumChangesWithContentAndModeOnly()
    {
        string Sum() => CopySources.Checksum(CopySources.Find(_root, ["dir"], false, "COPY"));
        var first = Sum();
        var again = Sum();
        File.WriteAllText(Path.Combine(_root, "dir/inner.txt"), "changed");
        var changed = Sum();
        File.SetUnixFileMode(Path.Combine(_root, "dir/inner.txt"), (UnixFileMode)0x1ED);
        var moded = Sum();

        Assert.Equal(first, again);
        Assert.NotEqual(first, changed);
        Assert.NotEqual(changed, moded);
    }

    [Fact]
    public async Task AFoldersTarNamesItsEntriesBelowTheDestinationWithTheChmodAskedForAndRootOwnership()
    {
        var source = CopySources.Find(_root, ["dir"], false, "COPY").Single();
        var buffer = new MemoryStream();
        await using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            await CopySources.WriteTarAsync(source, "ignored", (UnixFileMode)0x1C0, writer, CancellationToken.None);
        }

        buffer.Position = 0;
        var entries = new List<(string, TarEntryType, UnixFileMode, int)>();
        using var reader = new TarReader(buffer);
        while (reader.GetNextEntry() is { } entry)
        {
            entries.Add((entry.Name, entry.EntryType, entry.Mode, entry.Uid));
        }

        Assert.Equal(
            [("deep/", TarEntryType.Directory, (UnixFileMode)0x1C0, 0), ("deep/x.txt", TarEntryType.RegularFile, (UnixFileMode)0x1C0, 0), ("inner.txt", TarEntryType.RegularFile, (UnixFileMode)0x1C0, 0)],
            entries);
    }

    [Fact]
    public void AddUnpacksTarsItRecognisesByContentNotByName()
    {
        File.WriteAllBytes(Path.Combine(_root, "bundle.bin"), BuildContextTests.Tar(w => BuildContextTests.Add(w, "x", "y", (UnixFileMode)0x1A4)));

        Assert.Equal(CopySourceKind.ArchiveContents, CopySources.Find(_root, ["bundle.bin"], extractArchives: true, "ADD").Single().Kind);
        Assert.Equal(CopySourceKind.File, CopySources.Find(_root, ["bundle.bin"], extractArchives: false, "COPY").Single().Kind);
        Assert.Equal(CopySourceKind.File, CopySources.Find(_root, ["a.txt"], extractArchives: true, "ADD").Single().Kind);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
