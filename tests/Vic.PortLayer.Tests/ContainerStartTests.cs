using System.Net;
using System.Net.Sockets;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Vch;

namespace Vic.PortLayer.Tests;

/// <summary>A start against a fake hypervisor whose guests are a scripted tether on a loopback socket.</summary>
public sealed class ContainerStartTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AProcessThatEndsAtOnceLeavesTheContainerExitedNotRunning()
    {
        // The tether reports Started and Exit back to back: the exit reaches the endpoint while the
        // start has yet to commit Running. Several rounds, as the two race on the thread pool.
        using var backend = new ScriptedTetherBackend(exitCode: 3);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);

        var outcomes = new List<(ContainerState, int)>();
        for (var round = 0; round < 10; round++)
        {
            var id = engine.Runtime.Create($"quick{round}", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
            var waited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
            await engine.Runtime.StartAsync(id, CancellationToken.None);
            var code = await waited.WaitAsync(TimeSpan.FromSeconds(10));
            var status = engine.Containers.Resolve(id).Status;
            outcomes.Add((status.State, code));
        }

        Assert.All(outcomes, o => Assert.Equal((ContainerState.Exited, 3), o));
    }

    [Fact]
    public async Task AnAutoRemovedContainerWhoseProcessEndsAtOnceIsRemovedAndItsStartSucceeds()
    {
        using var backend = new ScriptedTetherBackend(exitCode: 0);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);

        for (var round = 0; round < 10; round++)
        {
            var id = engine.Runtime.Create($"gone{round}", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"], AutoRemove = true }).Id;
            var removed = engine.Runtime.WaitAsync(id, WaitCondition.Removed, CancellationToken.None);
            await engine.Runtime.StartAsync(id, CancellationToken.None);
            await removed.WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.Empty(engine.Containers.List());
    }

    [Fact]
    public async Task AContainerVmPoweredOffBehindTheVchsBackEndsItsContainerWithinTwoSeconds()
    {
        // The channel stays open (as a proxy's or a lingering socket's can): only the watch tells.
        using var backend = new ScriptedTetherBackend(exitCode: null);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("long", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "600"] }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        var stillRunning = engine.Containers.Resolve(id).Status.State;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await backend.Changes.Writer.WriteAsync(new ContainerVmChange(id, PowerState.Off, null, Gone: false));
        var code = await exited.WaitAsync(TimeSpan.FromSeconds(10));
        var took = clock.Elapsed;
        var record = engine.Containers.Resolve(id);

        Assert.Equal(ContainerState.Running, stillRunning);
        Assert.Equal(137, code);
        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.True(took < TimeSpan.FromSeconds(2), $"ended {took.TotalMilliseconds:0} ms after the power-off");
    }

    [Fact]
    public async Task AnExitReadBeforeThePowerOffKeepsItsCode()
    {
        // Every ordinary end powers the VM off right after the exit: the watch must not turn it into 137.
        using var backend = new ScriptedTetherBackend(exitCode: 5);
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("short", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["true"] }).Id;
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await backend.Changes.Writer.WriteAsync(new ContainerVmChange(id, PowerState.Off, null, Gone: false));

        Assert.Equal(5, await exited.WaitAsync(TimeSpan.FromSeconds(10)));
        await Task.Delay(ContainerService.WatchGrace + TimeSpan.FromMilliseconds(200));
        Assert.Equal(ContainerState.Exited, engine.Containers.Resolve(id).Status.State);
        Assert.Equal(5, engine.Containers.Resolve(id).Status.ExitCode);
    }

    [Fact]
    public async Task AStopThatMeetsARestartByPolicyMidStartStopsTheContainerForGood()
    {
        // docker stop lands while restart=always is starting the ContainerVM again: the stop must win, not
        // be undone by the start committing and the stop's own kill bringing the container back once more.
        var secondClone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var backend = new ScriptedTetherBackend(exitCode: null, async n =>
        {
            if (n == 2)
            {
                secondClone.TrySetResult();
                await release.Task;
            }
        });
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), TimeProvider.System, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("steady", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["sleep", "1"], RestartPolicy = new RestartPolicy("always") }).Id;
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await backend.Changes.Writer.WriteAsync(new ContainerVmChange(id, PowerState.Off, null, Gone: false));
        await secondClone.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stop = engine.Runtime.StopAsync(id, 5, CancellationToken.None);
        await Task.Delay(200);
        var stopWaitedForTheStart = !stop.IsCompleted;
        release.TrySetResult();
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(1000);
        var record = engine.Containers.Resolve(id);

        Assert.True(stopWaitedForTheStart);
        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.Equal(143, record.Status.ExitCode);
        Assert.True(record.ManuallyStopped);
        Assert.Equal(2, backend.Clones);
    }

    [Fact]
    public async Task AStopDuringARestartsBackOffCallsTheRestartOff()
    {
        using var backend = new ScriptedTetherBackend(exitCode: 3);
        var clock = new ManualTimeProvider();
        using var engine = new VchEngine(new VchConfig("test-vch", _dir.File("data"), new VmResources(4, 8L << 30), null, RegistryConfig.Default), clock, backend);
        await ImportEmptyImageAsync(engine);
        var id = engine.Runtime.Create("flaky", "empty", new Dictionary<string, string>(), new ContainerConfig { Cmd = ["false"], RestartPolicy = new RestartPolicy("on-failure") }).Id;
        var exited = engine.Runtime.WaitAsync(id, WaitCondition.NextExit, CancellationToken.None);
        await engine.Runtime.StartAsync(id, CancellationToken.None);
        await exited.WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually(() => engine.Containers.Resolve(id).Status.State == ContainerState.Restarting);

        await engine.Runtime.StopAsync(id, 1, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(2));
        await Task.Delay(300);
        var record = engine.Containers.Resolve(id);

        Assert.Equal(ContainerState.Exited, record.Status.State);
        Assert.Equal(3, record.Status.ExitCode);
        Assert.Equal(1, backend.Clones);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition());
    }

    private static async Task ImportEmptyImageAsync(VchEngine engine)
    {
        using var emptyTar = new MemoryStream(new byte[1024]);
        await engine.Images.ImportAsync(emptyTar, "empty", "latest", [], null, CancellationToken.None);
    }

    /// <summary>
    /// A hypervisor whose every ContainerVM's tether answers Attach with Hello and a spec with
    /// Started and Exit at once, over a loopback socket.
    /// </summary>
    /// <param name="exitCode">What the process exits with at once; null keeps it running.</param>
    /// <param name="beforeClone">Awaited before the n-th clone (from 1) answers: a start held in flight.</param>
    private sealed class ScriptedTetherBackend(int? exitCode, Func<int, Task>? beforeClone = null) : IComputeBackend, IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private int _clones;

        public int Clones => Volatile.Read(ref _clones);

        /// <summary>What the hypervisor reports through <see cref="WatchAsync"/>.</summary>
        public System.Threading.Channels.Channel<ContainerVmChange> Changes { get; } = System.Threading.Channels.Channel.CreateUnbounded<ContainerVmChange>();

        public string Name => "scripted";

        public async Task<ContainerVm> CloneAsync(ContainerVmSpec spec, CancellationToken cancellationToken)
        {
            var number = Interlocked.Increment(ref _clones);
            if (beforeClone is not null)
            {
                await beforeClone(number);
            }

            return new ContainerVm(spec.ContainerId, spec.Name, PowerState.On, spec.Resources, ProvisioningPath.InstantClone, spec.ExtraConfig);
        }

        public Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken) => CloneAsync(spec, cancellationToken);

        public async Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, cancellationToken);
            var guest = await listener.AcceptTcpClientAsync(cancellationToken);
            _ = Task.Run(() => PlayTetherAsync(guest), CancellationToken.None);
            return client.GetStream();
        }

        private async Task PlayTetherAsync(TcpClient guest)
        {
            using (guest)
            {
                var stream = guest.GetStream();
                var reader = new FrameReader(stream);
                using var writer = new FrameWriter(stream);
                try
                {
                    while (await reader.ReadAsync(_stop.Token) is { } frame)
                    {
                        if (frame.Type == FrameType.Attach)
                        {
                            await writer.WriteAsync(FrameType.Hello, 0, Payloads.Json(new HelloMessage(1, "scripted", "boot"), InteractionJson.Default.HelloMessage), _stop.Token);
                        }
                        else if (frame.Type == FrameType.Spec)
                        {
                            await writer.WriteAsync(FrameType.Started, 0, Payloads.Json(new StartedMessage(42), InteractionJson.Default.StartedMessage), _stop.Token);
                            if (exitCode is { } code)
                            {
                                await writer.WriteAsync(FrameType.Exit, 0, Payloads.Int32(code), _stop.Token);
                                return;
                            }
                        }
                        else if (frame.Type == FrameType.Signal)
                        {
                            // The process dies of any signal, as a shell without traps does.
                            await writer.WriteAsync(FrameType.Exit, 0, Payloads.Int32(128 + Payloads.Int32(frame.Payload)), _stop.Token);
                            return;
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
                {
                }
            }
        }

        public Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<ContainerVm>>([]);

        public IAsyncEnumerable<ContainerVmChange> WatchAsync(CancellationToken cancellationToken) => Changes.Reader.ReadAllAsync(cancellationToken);

        public Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task PowerOnAsync(string vmId, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task DestroyAsync(string vmId, CancellationToken cancellationToken) => Task.CompletedTask;

        /// <remarks>The engine disposes its backend too: twice is fine.</remarks>
        public void Dispose() => _stop.Cancel();
    }
}
