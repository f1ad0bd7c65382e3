using System.Formats.Tar;
using Vic.TestSupport;

namespace Vic.EndToEnd.Tests;

/// <summary>
/// The VCH's data directory on a small tmpfs that is filled up: a container's writes fail in the
/// container (its VM is not frozen), an import fails with the reason and leaves nothing, reads still
/// answer, running containers run on; once space is freed everything works again and nothing was lost.
/// </summary>
public sealed class DiskFullTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _home = new("vch-full");
    private QemuVch _vch = null!;

    private string Data => _home.Combine("data");

    private string Filler => Path.Combine(Data, "filler");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Data);
        var mounted = await Command.RunAsync("mount", ["-t", "tmpfs", "-o", "size=400m", "tmpfs", Data]);
        Assert.True(mounted.ExitCode == 0, $"a tmpfs for the data directory: {mounted}");
        _vch = await QemuVch.StartAsync(_home);
    }

    public async Task DisposeAsync()
    {
        await _vch.DisposeAsync();
        await Command.RunAsync("umount", ["-l", Data]);
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task AFullDataDirectoryFailsWritesClearlyAndWorksAgainOnceFreed()
    {
        await _vch.DockerAsync("run", "-d", "--name", "before", "busybox", "sh", "-c", "echo before; exec sleep 600");
        await Eventually.WaitForAsync(async () => (await _vch.DockerAsync("logs", "before")).StandardOutput == "before\n");
        var layerTar = LayerTar(4 << 20);
        await _vch.DockerAsync("create", "--name", "writer", "busybox", "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=16 conv=fsync");
        await _vch.DockerAsync("volume", "create", "--opt", "Capacity=64MB", "olderdata");
        await _vch.DockerAsync("run", "--rm", "-v", "olderdata:/v", "busybox", "sh", "-c", "echo older > /v/f");
        await _vch.DockerAsync("network", "create", "oldernet");
        await FillAsync();

        // Its scratch disk cannot grow: the write fails in the container, whose VM is not frozen.
        CommandResult writer;
        try
        {
            writer = await _vch.TryDockerAsync("start", "-a", "writer");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"start -a writer hung:\n{_vch.Endpoint.Output}");
            throw;
        }
        var created = await _vch.TryDockerAsync("create", "--name", "during", "busybox", "true");
        var import = await _vch.TryDockerAsync("import", layerTar, "imported:full");
        var listed = await _vch.TryDockerAsync("ps", "-a", "--format", "{{.Names}}");
        var importedWhileFull = await _vch.TryDockerAsync("image", "inspect", "imported:full");
        var halfCreated = await _vch.TryDockerAsync("inspect", "during");
        var volume = await _vch.TryDockerAsync("volume", "create", "--opt", "Capacity=64MB", "fullvol");
        var volumeThere = await _vch.TryDockerAsync("volume", "inspect", "fullvol");
        var network = await _vch.TryDockerAsync("network", "create", "fullnet");
        var networkThere = await _vch.TryDockerAsync("network", "inspect", "fullnet");
        var volumeRemoved = await _vch.TryDockerAsync("volume", "rm", "olderdata");
        var networkRemoved = await _vch.TryDockerAsync("network", "rm", "oldernet");
        var leftAside = Directory.EnumerateDirectories(Path.Combine(Data, "containers")).Count(d => Path.GetFileName(d).StartsWith('.'));
        File.Delete(Filler);

        Assert.True(writer.ExitCode != 0, $"a write to a full disk succeeded: {writer}");
        Assert.NotEqual(0, created.ExitCode);
        Assert.Contains("no space left on device", created.StandardError, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(0, halfCreated.ExitCode);
        Assert.Equal(0, leftAside);
        Assert.NotEqual(0, import.ExitCode);
        Assert.Contains("no space left on device", import.StandardError, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(0, importedWhileFull.ExitCode);
        Assert.Contains("before", listed.StandardOutput, StringComparison.Ordinal);

        // A volume or network made while full exists whole, or failed saying why and is absent.
        Assert.True(volume.ExitCode == 0 ? volumeThere.ExitCode == 0 : volumeThere.ExitCode != 0 && volume.StandardError.Contains("no space left on device", StringComparison.OrdinalIgnoreCase), $"{volume}\n{volumeThere}");
        Assert.True(network.ExitCode == 0 ? networkThere.ExitCode == 0 : networkThere.ExitCode != 0 && network.StandardError.Contains("no space left on device", StringComparison.OrdinalIgnoreCase), $"{network}\n{networkThere}\n{_vch.Endpoint.Output}");

        // Freed: the same import and a new run work, and what ran before still runs with its log.
        await _vch.DockerAsync("import", layerTar, "imported:full");
        Assert.Equal("ok\n", (await _vch.DockerAsync("run", "--rm", "busybox", "echo", "ok")).StandardOutput);
        Assert.Equal("still\n", (await _vch.DockerAsync("exec", "before", "echo", "still")).StandardOutput);
        Assert.Equal("before\n", (await _vch.DockerAsync("logs", "before")).StandardOutput);
        Assert.True((await _vch.DockerAsync("inspect", "-f", "{{.State.Status}}", "writer")).StandardOutput.Trim() == "exited", $"the writer did not run: {writer}\n{_vch.Endpoint.Output}");
        await _vch.DockerAsync("create", "--name", "during", "busybox", "true");
        if (volume.ExitCode != 0)
        {
            await _vch.DockerAsync("volume", "create", "--opt", "Capacity=64MB", "fullvol");
        }

        if (network.ExitCode != 0)
        {
            await _vch.DockerAsync("network", "create", "fullnet");
        }

        Assert.Equal("kept\n", (await _vch.DockerAsync("run", "--rm", "--network", "fullnet", "-v", "fullvol:/v", "busybox", "sh", "-c", "echo kept > /v/f && cat /v/f")).StandardOutput);

        // A removal while full happened whole, or failed saying why and left the volume with its data.
        if (volumeRemoved.ExitCode != 0)
        {
            Assert.Contains("no space left on device", volumeRemoved.StandardError, StringComparison.OrdinalIgnoreCase);
            Assert.Equal("older\n", (await _vch.DockerAsync("run", "--rm", "-v", "olderdata:/v", "busybox", "cat", "/v/f")).StandardOutput);
            await _vch.DockerAsync("volume", "rm", "olderdata");
        }

        if (networkRemoved.ExitCode != 0)
        {
            Assert.Contains("no space left on device", networkRemoved.StandardError, StringComparison.OrdinalIgnoreCase);
            await _vch.DockerAsync("network", "rm", "oldernet");
        }

        Assert.True((await _vch.TryDockerAsync("volume", "inspect", "olderdata")).ExitCode != 0);
        Assert.True((await _vch.TryDockerAsync("network", "inspect", "oldernet")).ExitCode != 0);
        await _vch.DockerAsync("rm", "-f", "before", "writer", "during");
    }

    /// <summary>Takes all but 1 MiB of the data directory's free space.</summary>
    private async Task FillAsync()
    {
        var free = new DriveInfo(Data).AvailableFreeSpace;
        var filled = await Command.RunAsync("fallocate", ["-l", (free - (1 << 20)).ToString(System.Globalization.CultureInfo.InvariantCulture), Filler]);
        Assert.True(filled.ExitCode == 0, filled.ToString());
    }

    /// <summary>A tar of one file of random bytes, outside the data directory.</summary>
    private string LayerTar(int bytes)
    {
        var path = _home.Combine("layer.tar");
        using var file = File.Create(path);
        using var tar = new TarWriter(file);
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "random.bin") { DataStream = new MemoryStream(System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes)) });
        return path;
    }
}
