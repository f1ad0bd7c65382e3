using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Interaction;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Containers;
using Vic.PortLayer.Events;
using Vic.PortLayer.Networks;
using Vic.PortLayer.Runtime;
using Vic.PortLayer.Store;

namespace Vic.PortLayer.Tests;

/// <summary>
/// The runtime's parts for a test of one of them: a real store, catalog and networks, a clock the
/// test moves, no image store, and whatever hypervisor the test gives (none by default). A restart
/// by policy only marks the container running and is counted.
/// </summary>
internal sealed class RuntimeParts : IDisposable
{
    private readonly TempDirectory _dir = new();

    public RuntimeParts(IComputeBackend? backend = null, IVmPower? power = null, TimeSpan? answerTimeout = null)
    {
        Store = VchStore.Open(_dir.File("vch.db"));
        Events = new EventBus(Time);
        Catalog = new ContainerCatalog(Store, Events, Time);
        Networks = new NetworkService(Store, Catalog, Events, Time);
        Runtime = new ContainerRuntimeTable(id => new ContainerLog(_dir.File($"{id}.log")), Catalog.Contains);
        Networking = new ContainerNetworking(Catalog, Networks, Runtime, backend as IBridgeFabric);
        ContainersDirectory = Directory.CreateDirectory(_dir.File("containers")).FullName;
        Teardown = new ContainerTeardown(Catalog, Runtime, backend, Networking, ContainersDirectory);
        Restarts = new RestartScheduler(Catalog, Runtime, Time, RestartAsync, NullLogger.Instance);
        Ending = new RunEnding(Catalog, Runtime, Networking, Restarts, Teardown, Time, NullLogger.Instance);
        Pump = new RunPump(Catalog, Runtime, power ?? backend, Ending, Time, NullLogger.Instance);
        Connector = new TetherConnector(Runtime, Pump, NullLogger.Instance, answerTimeout);
    }

    public ManualTimeProvider Time { get; } = new();

    public VchStore Store { get; }

    public EventBus Events { get; }

    public ContainerCatalog Catalog { get; }

    public NetworkService Networks { get; }

    public ContainerRuntimeTable Runtime { get; }

    public ContainerNetworking Networking { get; }

    public string ContainersDirectory { get; }

    public ContainerTeardown Teardown { get; }

    public RestartScheduler Restarts { get; }

    public RunEnding Ending { get; }

    public RunPump Pump { get; }

    public TetherConnector Connector { get; }

    /// <summary>The containers a restart by policy started, in order.</summary>
    public ConcurrentQueue<string> Restarted { get; } = new();

    /// <summary>A container the catalog says runs (no network: none of the tests here needs one).</summary>
    public string Running(string name, ContainerConfig? config = null)
    {
        var id = Catalog.Create(new NewContainer(name, "busybox", null, config ?? new ContainerConfig { Cmd = ["sleep", "600"] })).Id;
        Catalog.Transition(id, (who, s) => s.Start(who, Time.GetUtcNow()), "start");
        return id;
    }

    /// <summary>A run of the container on a loopback channel, registered as its run; the guest's end is the test's.</summary>
    /// <param name="pumped">With its pump reading; without, the test ends the run itself (two ends of one run would race).</param>
    public async Task<(RunningContainer Run, LoopbackChannel Guest)> RunAsync(string id, bool pumped = true)
    {
        var channel = await LoopbackChannel.ConnectAsync();
        var running = new RunningContainer(channel.Host, id);
        running.StartSettled.TrySetResult();
        Runtime.Of(id).Running = running;
        var log = Runtime.Of(id).Log;
        log.Open();
        running.Pump = pumped ? Task.Run(() => Pump.PumpAsync(running, log)) : Task.CompletedTask;
        return (running, channel);
    }

    public void Dispose()
    {
        Runtime.Dispose();
        Store.Dispose();
        _dir.Dispose();
    }

    private Task RestartAsync(string id)
    {
        Restarted.Enqueue(id);
        Catalog.Transition(id, (who, s) => s.Start(who, Time.GetUtcNow()), "start");
        return Task.CompletedTask;
    }
}

/// <summary>The guest's side of a loopback channel, speaking frames.</summary>
internal static class GuestFrames
{
    public static async Task SendAsync(this LoopbackChannel channel, FrameType type, uint session, ReadOnlyMemory<byte> payload)
    {
        using var writer = new FrameWriter(channel.Guest.GetStream());
        await writer.WriteAsync(type, session, payload, CancellationToken.None);
    }
}
