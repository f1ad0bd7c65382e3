using System.Formats.Tar;
using System.IO.Compression;
using Vic.Build.Context;

namespace Vic.Build.Tests;

public sealed class BuildContextTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"vic-context-{Guid.NewGuid():N}");

    [Fact]
    public async Task AGzipContextUnpacksWithModesTimesLinksAndTheDockerfileFallsBackToLowerCase()
    {
        var tar = Tar(w =>
        {
            Add(w, "dockerfile", "FROM busybox\n", (UnixFileMode)0x1A4);
            Add(w, "bin/run.sh", "#!/bin/sh\n", (UnixFileMode)0x1ED);
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/run") { LinkName = "run.sh" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "bin/again.sh") { LinkName = "bin/run.sh" });
        });
        var gzip = new MemoryStream();
        using (var compressor = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(tar);
        }

        gzip.Position = 0;
        using var context = await BuildContext.UnpackAsync(gzip, _folder, 1 << 20, CancellationToken.None);

        Assert.Equal("FROM busybox\n", context.ReadDockerfile("Dockerfile"));
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(context.Inside("bin/run.sh")));
        Assert.Equal(new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc), File.GetLastWriteTimeUtc(context.Inside("bin/run.sh")));
        Assert.Equal("run.sh", new FileInfo(context.Inside("bin/run")).LinkTarget);
        Assert.Equal("#!/bin/sh\n", File.ReadAllText(context.Inside("bin/again.sh")));
        Assert.Equal("Cannot locate specified Dockerfile: Other", Assert.Throws<BuildException>(() => context.ReadDockerfile("Other")).Message);
    }

    [Fact]
    public async Task ATarThatStopsRightAfterItsLastFileIsReadWhole()
    {
        // What docker build -f - sends: no padding after the last file and no end-of-archive blocks.
        var tar = Tar(w => Add(w, ".dockerfile.abc", "FROM busybox\n", (UnixFileMode)0x180));
        var cut = tar[..(tar.Length - 1024 - (512 - 13))];

        using var context = await BuildContext.UnpackAsync(new MemoryStream(cut), _folder, 1 << 20, CancellationToken.None);

        Assert.Equal("FROM busybox\n", context.ReadDockerfile(".dockerfile.abc"));
    }

    [Fact]
    public async Task EntriesThatClimbOutOfTheContextAreRefusedAndNothingIsLeft()
    {
        var tar = Tar(w => Add(w, "../escape.txt", "x", (UnixFileMode)0x1A4));

        var error = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(tar), _folder, 1 << 20, CancellationToken.None));

        Assert.Contains("points outside the context", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder));
    }

    [Fact]
    public async Task EntriesWrittenOrLinkedThroughASymlinkAreRefused()
    {
        var outside = Path.Combine(Path.GetTempPath(), $"vic-outside-{Guid.NewGuid():N}");
        var write = Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "a") { LinkName = Path.GetTempPath() });
            Add(w, $"a/{Path.GetFileName(outside)}", "escaped", (UnixFileMode)0x1A4);
        });
        var read = Tar(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "etc") { LinkName = "/etc" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "stolen") { LinkName = "etc/passwd" });
        });

        var written = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(write), _folder, 1 << 20, CancellationToken.None));
        var linked = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(read), _folder + "-2", 1 << 20, CancellationToken.None));

        Assert.Contains("is below a symlink", written.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(outside));
        Assert.Contains("is below a symlink", linked.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADockerfileThatIsASymlinkOutOfTheContextIsReadInsideIt()
    {
        var tar = Tar(w => w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "Dockerfile") { LinkName = "/etc/passwd" }));

        using var context = await BuildContext.UnpackAsync(new MemoryStream(tar), _folder, 1 << 20, CancellationToken.None);

        Assert.Equal("Cannot locate specified Dockerfile: Dockerfile", Assert.Throws<BuildException>(() => context.ReadDockerfile("Dockerfile")).Message);
    }

    [Theory]
    [InlineData("bzip2")]
    [InlineData("xz")]
    public async Task Bzip2AndXzContextsUnpackAsGzipOnesDo(string compressor)
    {
        var tar = Tar(w =>
        {
            Add(w, "Dockerfile", "FROM busybox\n", (UnixFileMode)0x1A4);
            Add(w, "data/big", new string('v', 200_000), (UnixFileMode)0x1A4);
        });
        var compressed = await CompressAsync(compressor, tar);

        using var context = await BuildContext.UnpackAsync(new MemoryStream(compressed), _folder, 1 << 20, CancellationToken.None);
        var corrupt = compressed.ToArray();
        corrupt[corrupt.Length / 2] ^= 0xFF;
        corrupt[(corrupt.Length / 2) + 1] ^= 0xFF;
        var refused = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(corrupt), _folder + "-2", 1 << 20, CancellationToken.None));

        Assert.Equal("FROM busybox\n", context.ReadDockerfile("Dockerfile"));
        Assert.Equal(200_000, new FileInfo(context.Inside("data/big")).Length);
        Assert.Contains("not a valid tar archive", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder + "-2"));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("bzip2")]
    [InlineData("xz")]
    public async Task AContextWhoseDamageIsOnlyInItsChecksumIsRefused(string compressor)
    {
        // The tar inside reads whole: only reading on to the compressor's own check finds the damage.
        var tar = Tar(w => Add(w, "Dockerfile", "FROM busybox\n", (UnixFileMode)0x1A4));
        var compressed = await CompressAsync(compressor, tar);
        var checksum = compressor switch
        {
            "gzip" => compressed.Length - 8, // CRC32 and size
            "bzip2" => compressed.Length - 5, // the stream's combined CRC, before the padding bits
            _ => compressed.Length - 12 - 16, // the block's check, before the index and the footer
        };
        compressed[checksum] ^= 0xFF;

        var refused = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(compressed), _folder, 1 << 20, CancellationToken.None));

        Assert.Contains("not a valid tar archive", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_folder));
    }

    [Fact]
    public async Task WhatFollowsAContextsTarIsReadOnlySoFar()
    {
        // 64 MiB of zeros after the tar: a few kilobytes compressed, read only up to the limit.
        var tar = Tar(w => Add(w, "Dockerfile", "FROM busybox\n", (UnixFileMode)0x1A4));
        var compressed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(tar);
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 64; i++)
            {
                gzip.Write(zeros);
            }
        }

        var body = new MemoryStream(compressed.ToArray());
        using var context = await BuildContext.UnpackAsync(body, _folder, 1 << 20, CancellationToken.None);

        Assert.Equal("FROM busybox\n", context.ReadDockerfile("Dockerfile"));
        Assert.True(body.Position < body.Length / 4, $"read {body.Position} of {body.Length} compressed bytes");
    }

    /// <summary>The bytes as Debian's own bzip2 or xz compresses them, as a client's would be.</summary>
    internal static async Task<byte[]> CompressAsync(string compressor, byte[] data)
    {
        var start = new System.Diagnostics.ProcessStartInfo(compressor, ["-c"]) { RedirectStandardInput = true, RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = new MemoryStream();
        var reading = process.StandardOutput.BaseStream.CopyToAsync(output);
        await process.StandardInput.BaseStream.WriteAsync(data);
        process.StandardInput.Close();
        await reading;
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        return output.ToArray();
    }

    [Fact]
    public async Task AContextOverTheLimitOrNotATarIsRefused()
    {
        var big = Tar(w => Add(w, "big", new string('x', 4096), (UnixFileMode)0x1A4));

        var tooBig = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(big), _folder, 1024, CancellationToken.None));
        var garbage = await Assert.ThrowsAsync<BuildException>(() => BuildContext.UnpackAsync(new MemoryStream(new byte[] { 0x1f, 0x8b, 1, 2, 3, 4, 5, 6 }), _folder, 1024, CancellationToken.None));

        Assert.Contains("larger than this VCH takes", tooBig.Message, StringComparison.Ordinal);
        Assert.Contains("not a valid tar archive", garbage.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    internal static byte[] Tar(Action<TarWriter> write)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            write(writer);
        }

        return buffer.ToArray();
    }

    internal static void Add(TarWriter writer, string name, string content, UnixFileMode mode) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
            Mode = mode,
            ModificationTime = new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero),
        });
}
