using Vic.TestSupport;

namespace Vic.Disks.Ext4.Tests;

/// <summary>An image built by <see cref="Ext4Writer"/> in a temp directory, checked with e2fsprogs.</summary>
internal sealed class Ext4Image : IDisposable
{
    public static readonly DateTimeOffset Created = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    private readonly TempDirectory _directory = new("ext4");

    private Ext4Image()
    {
        Path = _directory.Combine("layer.img");
    }

    public string Path { get; }

    public string Scratch(string name) => _directory.Combine(name);

    /// <summary>Writes an image through a write-only stream and completes it.</summary>
    public static Ext4Image Build(long capacity, Action<Ext4Writer> fill, Ext4Options? options = null)
    {
        var image = new Ext4Image();
        using var target = new WriteOnlyStream(new FileStream(image.Path, FileMode.CreateNew, FileAccess.Write));
        using var writer = new Ext4Writer(target, options ?? new Ext4Options(capacity, "layer", Guid.Parse("6f1c2a39-8e0f-4d1b-9a55-3c7f8e2d1b40"), Created));
        fill(writer);
        writer.Complete();
        return image;
    }

    /// <summary>e2fsck -fn must find nothing to fix.</summary>
    public async Task AssertCleanAsync()
    {
        var result = await Command.RunAsync("/usr/sbin/e2fsck", ["-fn", Path], timeout: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, $"e2fsck found problems:\n{result}");
    }

    public async Task<string> DebugfsAsync(string request)
    {
        var result = await Command.RunAsync("/usr/sbin/debugfs", ["-R", request, Path], timeout: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, $"debugfs {request}:\n{result}");
        return result.StandardOutput;
    }

    public Task<string> StatAsync(string path) => DebugfsAsync($"stat {path}");

    /// <summary>The content of a file in the image, through debugfs' dump.</summary>
    public async Task<byte[]> DumpAsync(string path)
    {
        var output = Scratch("dump-" + Guid.NewGuid().ToString("N"));
        await DebugfsAsync($"dump {path} {output}");
        var content = await File.ReadAllBytesAsync(output);
        File.Delete(output);
        return content;
    }

    public void Dispose() => _directory.Dispose();
}
