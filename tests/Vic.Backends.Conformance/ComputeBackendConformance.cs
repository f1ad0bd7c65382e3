using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Errors;
using Vic.TestSupport;

namespace Vic.Backends.Conformance;

/// <summary>
/// What every <see cref="IComputeBackend"/> must do, run against each implementation by deriving
/// from this class: create, clone, power, disks, inventory, destroy, failure modes, and a real
/// container's life through the tether (output, exit codes, stdin, exec, signals, restart).
/// </summary>
public abstract class ComputeBackendConformance : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);

    protected TempDirectory Home { get; } = new("backend");

    protected IComputeBackend Backend { get; private set; } = null!;

    protected static VmResources SmallVm { get; } = new(1, 256L << 20);

    /// <summary>The backend under test, over <paramref name="stateDirectory"/>; called again to play an endpoint restart.</summary>
    protected abstract IComputeBackend CreateBackend(string stateDirectory);

    /// <summary>Makes the ContainerVM die behind the backend's back (its process killed, its host lost).</summary>
    protected abstract Task KillBehindTheBackendsBackAsync(string vmId);

    /// <summary>What the backend can tell about a VM when a test fails on it (its console, its process).</summary>
    protected virtual string Diagnose(string vmId) => "";

    /// <summary>The pool the backend was created with.</summary>
    protected abstract VmResources Pool { get; }

    /// <summary>
    /// False where the guest is simulated by a tether on the test's host (vcsim has no guests): the
    /// checks that need a VM's own kernel (its hostname, its /proc, its memory) are then left out.
    /// </summary>
    protected virtual bool GuestIsAVirtualMachine => true;

    public Task InitializeAsync()
    {
        Backend = CreateBackend(Home.Combine("state"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var vm in await Backend.ListAsync(CancellationToken.None))
        {
            await Backend.DestroyAsync(vm.VmId, CancellationToken.None);
        }

        (Backend as IDisposable)?.Dispose();
    }

    public void Dispose()
    {
        Home.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task CreateListsAPoweredOffVmAndDestroyRemovesIt()
    {
        var spec = Spec("made", disks: []);
        var changes = Backend.WatchAsync(CancellationToken.None).GetAsyncEnumerator();

        var vm = await Backend.CreateAsync(spec, CancellationToken.None);
        var listed = Assert.Single(await Backend.ListAsync(CancellationToken.None));
        await Backend.DestroyAsync(vm.VmId, CancellationToken.None);

        Assert.Equal(PowerState.Off, vm.Power);
        Assert.Equal("made", listed.VmId);
        Assert.Equal("made-name", listed.Name);
        Assert.Equal("v", listed.ExtraConfig["k"]);
        Assert.Empty(await Backend.ListAsync(CancellationToken.None));
        Assert.True(await changes.MoveNextAsync());
        Assert.Equal(new ContainerVmChange("made", PowerState.Off, null, Gone: true), changes.Current);
    }

    [Fact]
    public async Task ACloneRunsEchoAndReportsOutputAndExitZero()
    {
        var vm = await Backend.CloneAsync(Spec("echo"), CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));

        await tether.SendSpecAsync(Container("echo", ["echo", "hi"]));
        var result = await tether.WaitAsync(0, RunTimeout);

        Assert.Equal(PowerState.On, vm.Power);
        Assert.Equal(new SessionResult("hi\n", "", 0), result);
    }

    [Theory]
    [InlineData("false", 1)]
    [InlineData("kill -9 $$", 137)]
    [InlineData("nosuch-command", 127)]
    public async Task ExitCodesComeBack(string script, int expected)
    {
        var vm = await Backend.CloneAsync(Spec("code"), CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));

        await tether.SendSpecAsync(Container("code", ["sh", "-c", script]));

        Assert.Equal(expected, (await tether.WaitAsync(0, RunTimeout)).ExitCode);
    }

    [Fact]
    public async Task StdinRoundTripsAndHostnameIsSet()
    {
        var vm = await Backend.CloneAsync(Spec("stdin"), CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));

        var hostname = GuestIsAVirtualMachine ? "hostname" : "cat /etc/hostname";
        await tether.SendSpecAsync(Container("stdin", ["sh", "-c", $"{hostname}; grep web /etc/hosts; cat"]) with { OpenStdin = true, Hostname = "web" });
        await tether.StdinAsync(0, "round\ntrip\n");
        await tether.CloseStdinAsync(0);
        var result = await tether.WaitAsync(0, RunTimeout);

        Assert.Equal("web\n127.0.1.1\tweb\nround\ntrip\n", result.Stdout);
        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task AnExecRunsBesideTheMainProcessAndASignalReachesIt()
    {
        var vm = await Backend.CloneAsync(Spec("exec"), CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
        await tether.SendSpecAsync(Container("exec", ["sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; while true; do sleep 0.1; done"]));
        await WaitForAsync(() => tether.Stdout(0).Contains("ready", StringComparison.Ordinal));

        var seesProc = GuestIsAVirtualMachine ? "ls /proc/1 >/dev/null; " : "";
        await tether.ExecAsync(7, new ExecSpec { Args = ["sh", "-c", $"echo from exec; {seesProc}exit 3"] });
        var exec = await tether.WaitAsync(7, RunTimeout);
        await tether.SignalAsync(0, 15);
        var main = await tether.WaitAsync(0, RunTimeout);

        Assert.Equal(new SessionResult("from exec\n", "", 3), exec);
        Assert.Equal("ready\ngot TERM\n", main.Stdout);
        Assert.Equal(42, main.ExitCode);
    }

    [Fact]
    public async Task ATtySessionSeesItsTerminalAndItsResizes()
    {
        var vm = await Backend.CloneAsync(Spec("tty"), CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
        await tether.SendSpecAsync(Container("tty", ["sh", "-c", "tty; stty size; echo ready; read line; stty size"]) with { Tty = true, OpenStdin = true, Rows = 30, Columns = 100 });
        await WaitForAsync(() => tether.Stdout(0).Contains("ready", StringComparison.Ordinal));

        await tether.ResizeAsync(0, 50, 132);
        await tether.StdinAsync(0, "go\r");
        var result = await tether.WaitAsync(0, RunTimeout);

        // Without a VM of its own the guest's /dev/pts is the host's, which its root does not show.
        Assert.Matches(GuestIsAVirtualMachine ? @"^/dev/pts/\d+\r\n30 100\r\nready\r\ngo\r\n50 132\r\n$" : @"^.*\r\n30 100\r\nready\r\ngo\r\n50 132\r\n$", result.Stdout);
        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task StatsComeFromTheGuest()
    {
        var vm = await Backend.CloneAsync(Spec("stats"), CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
        await tether.SendSpecAsync(Container("stats", ["sh", "-c", "echo up; sleep 600"]));
        await WaitForAsync(() => tether.Stdout(0).Contains("up", StringComparison.Ordinal));

        var stats = await tether.StatsAsync();

        Assert.InRange(stats.MemoryTotalBytes, 128L << 20, GuestIsAVirtualMachine ? SmallVm.MemoryBytes : long.MaxValue);
        Assert.InRange(stats.MemoryUsedBytes, 1, stats.MemoryTotalBytes);
        Assert.True(stats.CpuNanoseconds > 0);
        Assert.True(stats.Processes >= 3);
    }

    [Fact]
    public async Task AVmThatDiesIsReportedAndListedOff()
    {
        var vm = await Backend.CloneAsync(Spec("doomed"), CancellationToken.None);
        var changes = Backend.WatchAsync(CancellationToken.None).GetAsyncEnumerator();

        await KillBehindTheBackendsBackAsync(vm.VmId);

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.True(await changes.MoveNextAsync().AsTask().WaitAsync(limit.Token));
        Assert.Equal(new ContainerVmChange("doomed", PowerState.Off, null, Gone: false), changes.Current);
        Assert.Equal(PowerState.Off, Assert.Single(await Backend.ListAsync(CancellationToken.None)).Power);
    }

    [Fact]
    public async Task ARestartedBackendFindsTheRunningVmAndReattaches()
    {
        var vm = await Backend.CloneAsync(Spec("survivor"), CancellationToken.None);
        await using (var first = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None)))
        {
            await first.SendSpecAsync(Container("survivor", ["sh", "-c", "echo up; sleep 600"]));
            await WaitForAsync(() => first.Stdout(0).Contains("up", StringComparison.Ordinal));
        }

        (Backend as IDisposable)?.Dispose();
        Backend = CreateBackend(Home.Combine("state"));

        var listed = Assert.Single(await Backend.ListAsync(CancellationToken.None));
        var again = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
        StateReport state;
        try
        {
            state = await again.AttachAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            // The endpoint's recovery asks again on a fresh connection when an Attach goes unanswered.
            await again.DisposeAsync();
            again = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));
            state = await Diagnosed(vm.VmId, again.AttachAsync());
        }

        await using var reattached = again;
        await again.ExecAsync(1, new ExecSpec { Args = ["echo", "still here"] });

        Assert.Equal(PowerState.On, listed.Power);
        Assert.Contains(state.Sessions, s => s.Session == 0 && s.ExitCode is null && s.Pid > 0);
        Assert.Equal("still here\n", (await again.WaitAsync(1, RunTimeout)).Stdout);
    }

    private async Task<T> Diagnosed<T>(string vmId, Task<T> step)
    {
        try
        {
            return await step;
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or ProtocolException)
        {
            throw new InvalidOperationException($"{ex.Message}\n{Diagnose(vmId)}", ex);
        }
    }

    [Fact]
    public async Task AColdBootRunsTheSameContainer()
    {
        var vm = await Backend.CreateAsync(Spec("cold"), CancellationToken.None);
        await Backend.PowerOnAsync(vm.VmId, CancellationToken.None);
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));

        await tether.SendSpecAsync(Container("cold", ["sh", "-c", "cat /etc/hostname"]) with { Hostname = "coldhost" });

        Assert.Equal(new SessionResult("coldhost\n", "", 0), await tether.WaitAsync(0, RunTimeout));
    }

    [Fact]
    public async Task TheVmPowersOffWhenItsContainerEnds()
    {
        var vm = await Backend.CloneAsync(Spec("ends"), CancellationToken.None);
        var changes = Backend.WatchAsync(CancellationToken.None).GetAsyncEnumerator();
        await using var tether = new TetherClient(await Backend.OpenChannelAsync(vm.VmId, CancellationToken.None));

        await tether.SendSpecAsync(Container("ends", ["true"]));
        await tether.WaitAsync(0, RunTimeout);

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.True(await changes.MoveNextAsync().AsTask().WaitAsync(limit.Token));
        Assert.Equal(PowerState.Off, changes.Current.Power);
    }

    [Fact]
    public async Task APoolLimitRefusesWhatDoesNotFit()
    {
        var error = await Assert.ThrowsAsync<PortLayerException>(() =>
            Backend.CloneAsync(Spec("huge", resources: new VmResources(Pool.Cpus + 1, Pool.MemoryBytes)), CancellationToken.None));

        Assert.Equal(ErrorKind.Conflict, error.Kind);
        Assert.StartsWith("the VCH pool cannot fit this ContainerVM", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadRequestsAreRefusedWithClearErrors()
    {
        var unknown = await Assert.ThrowsAsync<PortLayerException>(() => Backend.PowerOnAsync("nosuch", CancellationToken.None));
        var missingDisk = await Assert.ThrowsAsync<PortLayerException>(() =>
            Backend.CreateAsync(Spec("bad", disks: [new DiskAttachment("layer0", Home.Combine("none.vmdk"), DiskRole.ImageLayer, true)]), CancellationToken.None));
        var badId = await Assert.ThrowsAsync<PortLayerException>(() =>
            Backend.CreateAsync(Spec("bad2", disks: [new DiskAttachment("this id is far too long for a serial", BusyboxLayer, DiskRole.ImageLayer, true)]), CancellationToken.None));

        Assert.Equal(ErrorKind.NotFound, unknown.Kind);
        Assert.Equal(ErrorKind.NotFound, missingDisk.Kind);
        Assert.Equal(ErrorKind.InvalidParameter, badId.Kind);
        Assert.Empty(await Backend.ListAsync(CancellationToken.None));
    }

    protected string BusyboxLayer => TestDisks.BusyboxLayer(Path.Combine(Path.GetTempPath(), "vic-test-disks"));

    protected ContainerVmSpec Spec(string id, IReadOnlyList<DiskAttachment>? disks = null, VmResources? resources = null) => new(
        id,
        id + "-name",
        resources ?? SmallVm,
        disks ?? [new DiskAttachment("layer0", BusyboxLayer, DiskRole.ImageLayer, true), new DiskAttachment("scratch", TestDisks.Scratch(Home.Combine($"{id}-scratch.vmdk")), DiskRole.Scratch, false)],
        new Dictionary<string, string> { ["k"] = "v" });

    protected static ContainerSpec Container(string id, IReadOnlyList<string> args) => new()
    {
        Id = id,
        Args = args,
        Disks = [new DiskSpec("layer0", "layer", 0), new DiskSpec("scratch", "scratch", 0)],
    };

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 1200 && !condition(); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(condition());
    }
}
