using System.Net;
using System.Net.Sockets;
using Vic.Interaction;
using Vic.PortLayer.Compute;

namespace Vic.PortLayer.Tests;

/// <summary>
/// A hypervisor whose every ContainerVM's tether answers Attach with Hello and a spec with
/// Started (and Exit at once, if told to), over a loopback socket; a signal ends the process.
/// </summary>
/// <param name="exitCode">What the process exits with at once; null keeps it running.</param>
/// <param name="beforeClone">Awaited before the n-th clone (from 1) answers: a start held in flight.</param>
internal sealed class ScriptedTetherBackend(int? exitCode, Func<int, Task>? beforeClone = null) : IComputeBackend, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ContainerVm> _vms = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TcpClient> _guests = new();
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

        var vm = new ContainerVm(spec.ContainerId, spec.Name, PowerState.On, spec.Resources, ProvisioningPath.InstantClone, spec.ExtraConfig);
        _vms[vm.VmId] = vm;
        return vm;
    }

    public Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken) => CloneAsync(spec, cancellationToken);

    public async Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, cancellationToken);
        var guest = await listener.AcceptTcpClientAsync(cancellationToken);
        if (!_vms.TryGetValue(vmId, out var vm) || vm.Power != PowerState.On)
        {
            // As a real channel to a VM that is off: it ends at once.
            guest.Dispose();
        }
        else
        {
            _guests[vmId] = guest;
        }

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

    public Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<ContainerVm>>([.. _vms.Values]);

    public IAsyncEnumerable<ContainerVmChange> WatchAsync(CancellationToken cancellationToken) => Changes.Reader.ReadAllAsync(cancellationToken);

    public Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task PowerOnAsync(string vmId, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The VM stops: its tether's channel ends, as a powered-off guest's does.</summary>
    public Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken)
    {
        if (_vms.TryGetValue(vmId, out var vm))
        {
            _vms[vmId] = vm with { Power = PowerState.Off };
        }

        if (_guests.TryRemove(vmId, out var guest))
        {
            guest.Dispose();
        }

        return Task.CompletedTask;
    }

    public Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task DestroyAsync(string vmId, CancellationToken cancellationToken)
    {
        PowerOffAsync(vmId, force: true, cancellationToken);
        _vms.TryRemove(vmId, out _);
        return Task.CompletedTask;
    }

    /// <remarks>The engine disposes its backend too: twice is fine.</remarks>
    public void Dispose() => _stop.Cancel();
}
