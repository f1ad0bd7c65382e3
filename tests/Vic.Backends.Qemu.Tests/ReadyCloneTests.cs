using Microsoft.Extensions.Logging.Abstractions;
using Vic.Backends.Conformance;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.TestSupport;

namespace Vic.Backends.Qemu.Tests;

/// <summary>
/// A ContainerVM kept restored and answering ahead of need: the next clone asked for is that VM,
/// and it is whole (its disks, its published ports, its NICs readdressed, nothing left of its
/// rehearsal: not its mounts, not the scratch disk it rehearsed on).
/// </summary>
public sealed class ReadyCloneTests : IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(180);
    private readonly TempDirectory _home = new("ready");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task TheNextCloneIsTheReadyOneAndRunsItsContainerWithItsDisksAndPublishedPort()
    {
        using var backend = await BackendAsync(readyClones: 1);
        var first = await backend.CloneAsync(Spec("first"), CancellationToken.None);
        await backend.DestroyAsync(first.VmId, CancellationToken.None);
        var waited = await Eventually.WaitForAsync(() => Task.FromResult(ReadyCount(backend)), n => n == 1, TimeSpan.FromSeconds(120));

        var port = EndpointProcess.FreePort();
        var vm = await backend.CloneAsync(Spec("second", new PortForward("tcp", "127.0.0.1", port, 8080)), CancellationToken.None);
        var record = await File.ReadAllTextAsync(Path.Combine(QemuVms.FolderOf(_home.Combine("state"), vm.VmId), "vm.json"));
        await using var tether = new TetherClient(await backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
        await tether.SendSpecAsync(Container("second", "echo served > /index.html; cat /proc/mounts > /mounts; ip -o -4 addr show > /addresses; cat /sys/class/net/eth0/address > /mac; ls /sys/block | grep -c '^sd' > /disks; exec httpd -f -p 8080 -h /"));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var served = await Eventually.WaitForAsync(async () => await TryGetAsync(http, $"http://127.0.0.1:{port}/index.html"), s => s is not null, RunTimeout);
        var state = await tether.AttachAsync();
        await tether.ExecAsync(2, new ExecSpec { Args = ["sh", "-c", "cat /mounts /addresses /mac; echo disks $(cat /disks)"] });
        var inside = await tether.WaitAsync(2, RunTimeout);
        await backend.DestroyAsync(vm.VmId, CancellationToken.None);

        Assert.Equal(1, waited);
        Assert.Contains("\"launchedIn\"", record, StringComparison.Ordinal);
        Assert.Equal("served\n", served);
        Assert.Contains(" overlay ", inside.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("rehearsal", inside.Stdout, StringComparison.Ordinal);
        Assert.Contains("inet 172.17.0.9/16", inside.Stdout, StringComparison.Ordinal);
        Assert.Contains("inet 10.0.2.15/24", inside.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("169.254.254.2", inside.Stdout, StringComparison.Ordinal);
        Assert.Contains("02:42:ac:11:00:09", inside.Stdout, StringComparison.Ordinal);
        Assert.Contains("disks 2\n", inside.Stdout, StringComparison.Ordinal);
        Assert.Equal([Frame.MainSession], state.Sessions.Select(s => s.Session));
    }

    [Fact]
    public async Task ReadyClonesGoWithTheirBackendAndThoseOfAKilledEndpointAreClearedByTheNext()
    {
        int pid;
        using (var backend = await BackendAsync(readyClones: 1))
        {
            var first = await backend.CloneAsync(Spec("first"), CancellationToken.None);
            await backend.DestroyAsync(first.VmId, CancellationToken.None);
            await Eventually.WaitForAsync(() => Task.FromResult(ReadyCount(backend)), n => n == 1, TimeSpan.FromSeconds(120));
            pid = ReadyPids().Single();

            // As a SIGKILL leaves it: the backend's own folder holds a running ready clone.
            using var next = await BackendAsync(readyClones: 1);
            Assert.False(await StillRunningAsync(pid), "a new backend left the ready clone of the one before it running");
        }

        using (var backend = await BackendAsync(readyClones: 1))
        {
            var first = await backend.CloneAsync(Spec("again"), CancellationToken.None);
            await backend.DestroyAsync(first.VmId, CancellationToken.None);
            await Eventually.WaitForAsync(() => Task.FromResult(ReadyCount(backend)), n => n == 1, TimeSpan.FromSeconds(120));
            pid = ReadyPids().Single();
        }

        Assert.False(await StillRunningAsync(pid), "a disposed backend left its ready clone running");
        Assert.Empty(Directory.EnumerateDirectories(_home.Combine("state", "ready")));
    }

    [Fact]
    public async Task AReadyCloneBeingMadeIsHeldStoppedWhileAStartIsBusyAndMadeAfter()
    {
        using var backend = await BackendAsync(readyClones: 1);
        var first = await backend.CloneAsync(Spec("first"), CancellationToken.None);
        await backend.DestroyAsync(first.VmId, CancellationToken.None);

        // The pool makes one once the first start is over: its QEMU shows in the ready folder.
        var making = await Eventually.WaitForAsync(() => Task.FromResult(ReadyPidsSoFar().FirstOrDefault()), pid => pid != 0, TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, making);
        // Looked for from before the second clone is asked for: its start may be done by the time CloneAsync returns.
        var seen = Task.Run(async () =>
        {
            for (var watch = System.Diagnostics.Stopwatch.StartNew(); watch.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(5))
            {
                if (State(making) == 'T')
                {
                    return true;
                }
            }

            return false;
        });
        var second = await backend.CloneAsync(Spec("second"), CancellationToken.None);
        var held = await seen;

        var made = await Eventually.WaitForAsync(() => Task.FromResult(ReadyCount(backend)), n => n == 1, TimeSpan.FromSeconds(120));
        var runningAfter = State(making);
        await backend.DestroyAsync(second.VmId, CancellationToken.None);

        Assert.True(held, "the ready clone's QEMU was never seen stopped while the second clone started");
        Assert.Equal(1, made);
        Assert.Contains(ReadyPids(), pid => pid == making);
        Assert.NotEqual('T', runningAfter);
    }

    [Fact]
    public async Task WithoutReadyClonesOrForAVmWithoutANetworkNoneIsMade()
    {
        using var none = await BackendAsync(readyClones: 0);
        var vm = await none.CloneAsync(Spec("plain"), CancellationToken.None);
        await none.DestroyAsync(vm.VmId, CancellationToken.None);
        using var unplugged = await BackendAsync(readyClones: 1, state: "state-unplugged");
        var isolated = await unplugged.CloneAsync(Spec("isolated") with { Network = null }, CancellationToken.None);
        await unplugged.DestroyAsync(isolated.VmId, CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.Equal(0, ReadyCount(none));
        Assert.Equal(0, ReadyCount(unplugged));
    }

    private async Task<QemuBackend> BackendAsync(int readyClones, string state = "state")
    {
        var (kernel, initramfs) = await BootImages.EnsureBuiltAsync();
        return new QemuBackend(
            new QemuBackendOptions(_home.Combine(state), kernel, initramfs, new VmResources(4, 2L << 30), InstantClone: true, Accelerator: Accelerator.Tcg)
            {
                TemplateDirectory = BootImages.TemplateDirectory,
                ReadyClones = readyClones,
                MakeScratchDisk = path => TestDisks.Scratch(path),
            },
            NullLogger<QemuBackend>.Instance);
    }

    private static int ReadyCount(QemuBackend backend) =>
        int.Parse(backend.DescribeAsync(CancellationToken.None).Result.Details.Single(d => d.Key == "Ready clones").Value.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    private IEnumerable<int> ReadyPids() =>
        Directory.EnumerateDirectories(_home.Combine("state", "ready")).Select(QemuVms.Pid);

    /// <summary>Whether the process still runs a few seconds on (a SIGKILL is delivered, not obeyed at once).</summary>
    private static async Task<bool> StillRunningAsync(int pid) =>
        await Eventually.WaitForAsync(() => Task.FromResult(Running(pid)), running => !running, TimeSpan.FromSeconds(5));

    /// <summary>The pids of ready clones whose QEMU has written its pid so far (one being made may not have).</summary>
    private List<int> ReadyPidsSoFar()
    {
        try
        {
            return Directory.Exists(_home.Combine("state", "ready"))
                ? [.. Directory.EnumerateDirectories(_home.Combine("state", "ready")).Where(d => File.Exists(Path.Combine(d, "qemu.pid"))).Select(QemuVms.Pid)]
                : [];
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
            // A pid file being written, or the folder of a clone given up going.
            return [];
        }
    }

    /// <summary>A process's state letter from /proc (T: stopped), or '-' when it is gone.</summary>
    private static char State(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0];
        }
        catch (IOException)
        {
            return '-';
        }
    }

    private static bool Running(int pid) => State(pid) is not ('Z' or '-');

    private static async Task<string?> TryGetAsync(HttpClient http, string url)
    {
        try
        {
            return await http.GetStringAsync(url);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    private ContainerVmSpec Spec(string id, params PortForward[] forwards) => new(
        id,
        id,
        new VmResources(1, 256L << 20),
        [
            new DiskAttachment("layer0", TestDisks.BusyboxLayer(Path.Combine(Path.GetTempPath(), "vic-test-disks")), DiskRole.ImageLayer, true),
            new DiskAttachment("scratch", TestDisks.Scratch(_home.Combine($"{id}-scratch.vmdk")), DiskRole.Scratch, false),
        ],
        new Dictionary<string, string>(),
        new VmNetworkSpec("02:42:ac:11:00:09", Outbound: true, forwards));

    private static ContainerSpec Container(string id, string script) => new()
    {
        Id = id,
        Args = ["sh", "-c", script],
        Disks = [new DiskSpec("layer0", "layer", 0), new DiskSpec("scratch", "scratch", 0)],
        Network = new NetworkSpec("02:42:ac:11:00:09", ["172.17.0.9/16"], "10.0.2.15/24", "10.0.2.2", null),
    };
}
