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
/// <param name="faultOf">How a VM's tether misbehaves, by VM id; <see cref="TetherFault.None"/> for a well-behaved one.</param>
internal sealed class ScriptedTetherBackend(int? exitCode, Func<int, Task>? beforeClone = null, Func<string, TetherFault>? faultOf = null) : IComputeBackend, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ContainerVm> _vms = new();
    // Every channel a VM has open: powering it off ends them all, as a real VM's end does.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<TcpClient>> _guests = new();
    private int _clones;

    public int Clones => Volatile.Read(ref _clones);

    /// <summary>Every ContainerVM asked for, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<ContainerVmSpec> Cloned { get; } = new();

    /// <summary>Every spec a tether was handed, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<ContainerSpec> Specs { get; } = new();

    /// <summary>VMs whose tether already runs a container (it answers Attach with State): those an endpoint restart finds.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, bool> RunsAlready { get; } = new();

    /// <summary>A ContainerVM that was on before this hypervisor's endpoint started.</summary>
    public void Seed(ContainerVm vm) => _vms[vm.VmId] = vm;

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

        Cloned.Enqueue(spec);
        var vm = new ContainerVm(spec.ContainerId, spec.Name, PowerState.On, spec.Resources, ProvisioningPath.InstantClone, spec.ExtraConfig);
        _vms[vm.VmId] = vm;
        return vm;
    }

    public Task<ContainerVm> CreateAsync(ContainerVmSpec spec, CancellationToken cancellationToken) => CloneAsync(spec, cancellationToken);

    public async Task<Stream> OpenChannelAsync(string vmId, CancellationToken cancellationToken)
    {
        var fault = faultOf?.Invoke(vmId) ?? TetherFault.None;
        if (fault == TetherFault.RefuseChannel)
        {
            throw new IOException($"connection to the channel of {vmId} refused");
        }

        var channel = await LoopbackChannel.ConnectAsync(cancellationToken);
        var guest = channel.Guest;
        if (!_vms.TryGetValue(vmId, out var vm) || vm.Power != PowerState.On)
        {
            // As a real channel to a VM that is off: it ends at once.
            guest.Dispose();
        }
        else
        {
            _guests.GetOrAdd(vmId, _ => []).Add(guest);
        }

        _ = Task.Run(() => PlayTetherAsync(vmId, guest, fault), CancellationToken.None);
        return channel.Host;
    }

    private async Task PlayTetherAsync(string vmId, TcpClient guest, TetherFault fault)
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
                    if (frame.Type == FrameType.Attach && RunsAlready.ContainsKey(vmId))
                    {
                        await writer.WriteAsync(FrameType.State, 0, Payloads.Json(new StateReport([new SessionState(0, 42, null)]), InteractionJson.Default.StateReport), _stop.Token);
                    }
                    else if (frame.Type == FrameType.Attach)
                    {
                        await writer.WriteAsync(FrameType.Hello, 0, Payloads.Json(new HelloMessage(1, "scripted", "boot"), InteractionJson.Default.HelloMessage), _stop.Token);
                    }
                    else if (frame.Type == FrameType.Spec && fault != TetherFault.None)
                    {
                        Specs.Enqueue(Payloads.Json(frame.Payload, InteractionJson.Default.ContainerSpec));
                        await MisbehaveAsync(stream, writer, fault);
                        if (fault is not (TetherFault.GarbageWhileRunning or TetherFault.NonsenseState or TetherFault.NeverStarts))
                        {
                            return;
                        }
                    }
                    else if (frame.Type == FrameType.Spec)
                    {
                        Specs.Enqueue(Payloads.Json(frame.Payload, InteractionJson.Default.ContainerSpec));
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

    /// <summary>What a broken or hostile guest sends where the spec's answer belongs.</summary>
    private async Task MisbehaveAsync(NetworkStream stream, FrameWriter writer, TetherFault fault)
    {
        var started = Payloads.Json(new StartedMessage(42), InteractionJson.Default.StartedMessage);
        switch (fault)
        {
            case TetherFault.NeverStarts:
                break;
            case TetherFault.Garbage:
                await stream.WriteAsync(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64), _stop.Token);
                await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token);
                break;
            case TetherFault.DropMidFrame:
                var whole = new MemoryStream();
                using (var buffered = new FrameWriter(whole))
                {
                    await buffered.WriteAsync(FrameType.Started, 0, started, _stop.Token);
                }

                await stream.WriteAsync(whole.ToArray().AsMemory(0, (int)whole.Length - 3), _stop.Token);
                break;
            case TetherFault.OversizedFrame:
                var header = new byte[FrameCodec.HeaderLength];
                header[0] = FrameCodec.Magic;
                header[1] = (byte)FrameType.Stdout;
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(6), int.MaxValue);
                await stream.WriteAsync(header, _stop.Token);
                await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token);
                break;
            case TetherFault.NonsenseState:
                await writer.WriteAsync(FrameType.Started, 0, started, _stop.Token);
                await Task.Delay(200, _stop.Token);
                await writer.WriteAsync(FrameType.State, 0, Payloads.Text("""{"sessions":null}"""), _stop.Token);
                await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token);
                break;
            case TetherFault.GarbageWhileRunning:
                await writer.WriteAsync(FrameType.Started, 0, started, _stop.Token);
                await writer.WriteAsync(FrameType.Stdout, 0, Payloads.Text("up\n"), _stop.Token);
                await Task.Delay(200, _stop.Token);
                await writer.WriteAsync(FrameType.Exit, 0, Payloads.Text("not a number"), _stop.Token);
                await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token);
                break;
        }
    }

    public Task<IReadOnlyList<ContainerVm>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<ContainerVm>>([.. _vms.Values]);

    public IAsyncEnumerable<ContainerVmChange> WatchAsync(CancellationToken cancellationToken) => Changes.Reader.ReadAllAsync(cancellationToken);

    public Task<BackendDescription> DescribeAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task PowerOnAsync(string vmId, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>What powering a VM off throws, while set: a VM deleted behind the VCH's back.</summary>
    public Exception? PowerOffFault { get; set; }

    /// <summary>The VM stops: its tether's channel ends, as a powered-off guest's does.</summary>
    public Task PowerOffAsync(string vmId, bool force, CancellationToken cancellationToken)
    {
        if (PowerOffFault is { } fault)
        {
            throw fault;
        }

        Stop(vmId);
        return Task.CompletedTask;
    }

    private void Stop(string vmId)
    {
        if (_vms.TryGetValue(vmId, out var vm))
        {
            _vms[vmId] = vm with { Power = PowerState.Off };
        }

        if (_guests.TryRemove(vmId, out var guests))
        {
            foreach (var guest in guests)
            {
                guest.Dispose();
            }
        }
    }

    public Task ReconfigureAsync(string vmId, VmResources resources, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task AttachDiskAsync(string vmId, DiskAttachment disk, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task DetachDiskAsync(string vmId, string diskId, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>What destroying a VM throws, while set: a datastore that refuses.</summary>
    public Exception? DestroyFault { get; set; }

    public Task DestroyAsync(string vmId, CancellationToken cancellationToken)
    {
        if (DestroyFault is { } fault)
        {
            throw fault;
        }

        Stop(vmId);
        _vms.TryRemove(vmId, out _);
        return Task.CompletedTask;
    }

    /// <remarks>The engine disposes its backend too: twice is fine.</remarks>
    public void Dispose() => _stop.Cancel();
}

/// <summary>How a scripted tether misbehaves once it has its spec (or before: a refused channel).</summary>
public enum TetherFault
{
    None,

    /// <summary>The VM's end of the channel refuses the connection.</summary>
    RefuseChannel,

    /// <summary>Random bytes where the Started frame belongs, then silence with the channel open.</summary>
    Garbage,

    /// <summary>A Started frame cut three bytes short, then the channel closes.</summary>
    DropMidFrame,

    /// <summary>A frame header that claims a 2 GiB payload, then silence.</summary>
    OversizedFrame,

    /// <summary>Started, then a State report whose sessions are null: JSON that parses and makes no sense.</summary>
    NonsenseState,

    /// <summary>Started, a line of output, then an Exit whose payload is not a code.</summary>
    GarbageWhileRunning,

    /// <summary>Takes its spec and never starts the process (a root waiting on an NFS server that does not answer).</summary>
    NeverStarts,
}
