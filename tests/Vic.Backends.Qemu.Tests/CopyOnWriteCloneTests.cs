using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Backends.Conformance;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.TestSupport;

namespace Vic.Backends.Qemu.Tests;

/// <summary>
/// Clones share the template's RAM file copy-on-write: what one writes stays its own, never reaching
/// the template's file or another clone; a full-copy clone maps nothing of the template.
/// </summary>
public sealed class CopyOnWriteCloneTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(180);
    private readonly TempDirectory _home = new("cow");
    private QemuBackend _backend = null!;

    public async Task InitializeAsync()
    {
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        _backend = new QemuBackend(
            new QemuBackendOptions(_home.Combine("state"), kernel, initramfs, new VmResources(4, 2L << 30), InstantClone: true, Accelerator: Accelerator.Tcg) { TemplateDirectory = BootImages.TemplateDirectory },
            NullLogger<QemuBackend>.Instance);
    }

    public async Task DisposeAsync()
    {
        foreach (var vm in await _backend.ListAsync(CancellationToken.None))
        {
            await _backend.DestroyAsync(vm.VmId, CancellationToken.None);
        }

        _backend.Dispose();
    }

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task AClonesWritesReachNeitherTheTemplateNorAnotherClone()
    {
        // B holds 32 MiB of its own pattern in guest RAM (tmpfs) while A fills 120 of its 256 MiB with a marker.
        var b = await _backend.CloneAsync(Spec("cow-b"), CancellationToken.None);
        await using var bTether = new TetherClient(await _backend.OpenChannelAsync(b.VmId, CancellationToken.None));
        await bTether.SendSpecAsync(Container("cow-b", "mkdir -p /fill && mount -t tmpfs -o size=64m t /fill && head -c 33554432 /dev/zero | tr '\\0' B > /fill/b && touch /fill/done && sleep 600"));
        var templateRam = MappedTemplateRam(b.VmId) ?? throw new Xunit.Sdk.XunitException("the clone does not map the template's RAM file");
        var before = await HashAsync(templateRam);

        var marker = $"vic-cow-{Guid.NewGuid():N}";
        var a = await _backend.CloneAsync(Spec("cow-a"), CancellationToken.None);
        await using (var aTether = new TetherClient(await _backend.OpenChannelAsync(a.VmId, CancellationToken.None)))
        {
            await aTether.SendSpecAsync(Container("cow-a", $"mkdir -p /fill && mount -t tmpfs -o size=200m t /fill && yes {marker} | head -c 125829120 > /fill/a && wc -c < /fill/a"));
            var filled = await aTether.WaitAsync(0, RunTimeout);
            Assert.True(filled.ExitCode == 0, $"the fill failed: {filled}");
            Assert.Equal("125829120", filled.Stdout.Split('\n')[0].Trim());
        }

        await bTether.ExecAsync(2, new ExecSpec { Args = ["sh", "-c", "while [ ! -f /fill/done ]; do sleep 0.1; done; wc -c < /fill/b; tr -d B < /fill/b | wc -c"] });
        var check = await bTether.WaitAsync(2, RunTimeout);

        Assert.Equal(["33554432", "0"], check.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
        Assert.Equal(before, await HashAsync(templateRam));
        Assert.False(await ContainsAsync(templateRam, Encoding.ASCII.GetBytes(marker)), "the clone's writes reached the template's RAM file");
    }

    [Fact]
    public async Task AClonesGuestKeepsNothingOfTheTemplatesRehearsal()
    {
        var vm = await _backend.CloneAsync(Spec("after-rehearsal"), CancellationToken.None);
        await using var tether = new TetherClient(await _backend.OpenChannelAsync(vm.VmId, CancellationToken.None));

        // The template rehearsed a start (a root of its own, a process) and tidied it away: the
        // clone's mounts are its container's, and the tether knows of no session but its own.
        await tether.SendSpecAsync(Container("after-rehearsal", "cat /proc/mounts; sleep 600"));
        var state = await tether.AttachAsync();
        await tether.ExecAsync(2, new ExecSpec { Args = ["cat", "/proc/mounts"] });
        var mounts = await tether.WaitAsync(2, RunTimeout);

        Assert.Equal(0, mounts.ExitCode);
        Assert.Contains(" overlay ", mounts.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("rehearsal", mounts.Stdout, StringComparison.Ordinal);
        Assert.Equal([Frame.MainSession], state.Sessions.Select(s => s.Session));
    }

    [Fact]
    public async Task ATemplateThatLostItsRamFileIsBuiltAgain()
    {
        using var home = new TempDirectory("lost-ram");
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        using var backend = new QemuBackend(
            new QemuBackendOptions(home.Combine("state"), kernel, initramfs, new VmResources(2, 1L << 30), InstantClone: true, Accelerator: Accelerator.Tcg) { TemplateDirectory = home.Combine("templates") },
            NullLogger<QemuBackend>.Instance);
        await backend.DestroyAsync((await backend.CloneAsync(Spec("first", home), CancellationToken.None)).VmId, CancellationToken.None);
        var ram = Assert.Single(Directory.GetFiles(home.Combine("templates"), "ram", SearchOption.AllDirectories));
        File.Delete(ram);

        var vm = await backend.CloneAsync(Spec("second", home), CancellationToken.None);
        try
        {
            await using var tether = new TetherClient(await backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
            await tether.SendSpecAsync(Container("second", "echo woke"));

            Assert.Equal(new SessionResult("woke\n", "", 0), await tether.WaitAsync(0, RunTimeout));
            Assert.True(File.Exists(ram));
        }
        finally
        {
            await backend.DestroyAsync(vm.VmId, CancellationToken.None);
        }
    }

    [Fact]
    public async Task AFullCopyCloneHasRamOfItsOwn()
    {
        using var home = new TempDirectory("full-copy");
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        using var backend = new QemuBackend(
            new QemuBackendOptions(home.Combine("state"), kernel, initramfs, new VmResources(2, 1L << 30), InstantClone: true, Accelerator: Accelerator.Tcg, CloneMemory: CloneMemory.FullCopy) { TemplateDirectory = BootImages.TemplateDirectory },
            NullLogger<QemuBackend>.Instance);
        var vm = await backend.CloneAsync(Spec("full", home), CancellationToken.None);
        try
        {
            Assert.Null(MappedTemplateRam(vm.VmId, home));
            await using var tether = new TetherClient(await backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
            await tether.SendSpecAsync(Container("full", "echo ran"));

            Assert.Equal(new SessionResult("ran\n", "", 0), await tether.WaitAsync(0, RunTimeout));
        }
        finally
        {
            await backend.DestroyAsync(vm.VmId, CancellationToken.None);
        }
    }

    private ContainerVmSpec Spec(string id, TempDirectory? home = null) => new(
        id,
        id,
        new VmResources(1, 256L << 20),
        [
            new DiskAttachment("layer0", TestDisks.BusyboxLayer(Path.Combine(Path.GetTempPath(), "vic-test-disks")), DiskRole.ImageLayer, true),
            new DiskAttachment("scratch", TestDisks.Scratch((home ?? _home).Combine($"{id}-scratch.vmdk")), DiskRole.Scratch, false),
        ],
        new Dictionary<string, string>());

    private static ContainerSpec Container(string id, string script) => new()
    {
        Id = id,
        Args = ["sh", "-c", script],
        Disks = [new DiskSpec("layer0", "layer", 0), new DiskSpec("scratch", "scratch", 0)],
    };

    /// <summary>The template RAM file the VM's QEMU maps, if any.</summary>
    private string? MappedTemplateRam(string vmId, TempDirectory? home = null)
    {
        var pid = QemuVms.Pid(QemuVms.FolderOf((home ?? _home).Combine("state"), vmId));
        return File.ReadLines($"/proc/{pid}/maps")
            .Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length == 6 && f[5].StartsWith(BootImages.TemplateDirectory, StringComparison.Ordinal) && f[5].EndsWith("/ram", StringComparison.Ordinal))
            .Select(f => f[5])
            .FirstOrDefault();
    }

    private static async Task<string> HashAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file));
    }

    private static async Task<bool> ContainsAsync(string path, byte[] needle)
    {
        await using var file = File.OpenRead(path);
        var buffer = new byte[(1 << 20) + needle.Length];
        var kept = 0;
        int read;
        while ((read = await file.ReadAsync(buffer.AsMemory(kept, buffer.Length - kept))) > 0)
        {
            var filled = kept + read;
            if (buffer.AsSpan(0, filled).IndexOf(needle) >= 0)
            {
                return true;
            }

            // Keep the tail, so a needle across two reads is found.
            kept = Math.Min(needle.Length - 1, filled);
            buffer.AsSpan(filled - kept, kept).CopyTo(buffer);
        }

        return false;
    }
}
