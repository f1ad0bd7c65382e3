using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Vim25;

namespace Vic.TestSupport;

/// <summary>
/// Plays the ESXi hosts' part for one VCH's VMs in vcsim, which has no guests: for each VM that is
/// powered on it runs a guest (the real tether on this host, or with <c>realVms</c> a QEMU VM with
/// the VM's vSphere hardware booting the ISO) and, as the VMX process does, connects the VM's
/// network-backed serial port to the endpoint: straight to its <c>tcp://</c> URI, or through the
/// vSPC its backing names, saying which VM it is. An instant clone (vcsim marks it with its
/// parent) forks its parent's guest: a QEMU parent is frozen once and its saved state restored in
/// each child, whose disks are hot-added as vSphere adds them. When the container ends the guest
/// stops and the VM is powered off through the API, as the guest does.
/// </summary>
public sealed class SimulatedGuests : IAsyncDisposable
{
    private const string InstantCloneParent = "vcsim.instantClone.parent";
    private const string ApplianceKey = "vic.appliance";

    private readonly VimSession _session;
    private readonly string _vch;
    private readonly TempDirectory _home = new("guests");
    private readonly ConcurrentDictionary<string, IGuest> _guests = new();
    private readonly ConcurrentDictionary<string, string> _errors = new();
    private readonly ConcurrentDictionary<string, string> _boots = new();
    private readonly ConcurrentDictionary<string, int> _generations = new();
    private int _started;
    private readonly bool _realVms;
    private readonly ApplianceNetwork? _appliance;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watching;

    private SimulatedGuests(VimSession session, string vch, bool realVms, ApplianceNetwork? appliance)
    {
        _session = session;
        _vch = vch;
        _realVms = realVms;
        _appliance = appliance;
        _watching = Task.Run(WatchAsync);
    }

    internal interface IGuest : IAsyncDisposable
    {
        string Output { get; }

        /// <summary>Hot-adds the disks the VM has now and its guest does not.</summary>
        Task SyncDisksAsync(IReadOnlyList<GuestDisk> disks);
    }

    /// <summary>Every guest started so far and what it printed, and what kept a guest from starting, for failing tests to show.</summary>
    public string Output => string.Join('\n', _guests.Select(g => $"{g.Key}: {g.Value.Output}").Concat(_errors.Select(e => $"{e.Key} (not played): {e.Value}")));

    /// <summary>
    /// Starts playing the guests. With <paramref name="realVms"/> each guest is a real VM: QEMU with
    /// the hardware the VM has in vSphere (the bootstrap ISO, a paravirtual SCSI controller with its
    /// disks at their units, COM1 on the serial port's backing), booting the real tether; the disks'
    /// content is the endpoint's own copy (vcsim keeps none of an import). With <paramref name="appliance"/>
    /// the VCH's appliance VM (extraConfig <c>vic.appliance</c>) is played too, always as a real VM.
    /// </summary>
    public static async Task<SimulatedGuests> StartAsync(VimSessionConfig config, string vch, bool realVms = false, ApplianceNetwork? appliance = null)
    {
        await BootImages.EnsureBuiltAsync().ConfigureAwait(false);
        var session = await VimSession.ConnectAsync(config, NullLogger.Instance, CancellationToken.None).ConfigureAwait(false);
        return new SimulatedGuests(session, vch, realVms, appliance);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _watching.ConfigureAwait(false);
        foreach (var guest in _guests.Values)
        {
            await guest.DisposeAsync().ConfigureAwait(false);
        }

        await _session.DisposeAsync().ConfigureAwait(false);
        _home.Dispose();
        _stop.Dispose();
    }

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var vms = await _session.ListAsync("VirtualMachine", ["runtime.powerState", "summary.runtime.bootTime", "config.extraConfig", "config.hardware.device", "config.hardware.memoryMB", "config.instanceUuid"], _stop.Token).ConfigureAwait(false);
                var on = new HashSet<string>();
                foreach (var vm in vms)
                {
                    var extra = VirtualMachines.ExtraConfigOf(vm.Properties.GetValueOrDefault("config.extraConfig"));
                    var appliance = _appliance is not null && extra.GetValueOrDefault(ApplianceKey) == _vch;
                    if ((extra.GetValueOrDefault("vic.vch") != _vch && extra.GetValueOrDefault("vic.parent") != _vch && !appliance) || vm.Text("runtime.powerState") != "poweredOn")
                    {
                        continue;
                    }

                    on.Add(vm.Obj.Value);
                    try
                    {
                        await PlayAsync(vm, extra).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // This VM's guest is not there yet (its QEMU, vcsim busy), or cannot be played: the next
                        // round tries again, the others go on, and a failing test shows why.
                        _errors[vm.Obj.Value] = ex.ToString();
                    }
                }

                foreach (var gone in _guests.Keys.Where(k => !on.Contains(k)).ToList())
                {
                    // Its guest's exit must not power off the VM should it be powered on again meanwhile.
                    _generations.TryRemove(gone, out _);
                    _boots.TryRemove(gone, out _);
                    if (_guests.TryRemove(gone, out var guest))
                    {
                        // What it printed stays for a failing test to show: a guest that ended at once says why there.
                        _errors[gone] = "powered off; it printed: " + guest.Output[^Math.Min(guest.Output.Length, 4000)..];
                        await guest.DisposeAsync().ConfigureAwait(false);
                    }
                }

                await Task.Delay(100, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is VimFaultException or VimProtocolException or HttpRequestException or InvalidOperationException or IOException)
            {
                // vcsim is busy or going away, or a guest's QEMU is; look again.
            }
        }
    }

    /// <summary>Starts the guest of a powered-on VM, or hot-adds the disks its running guest lacks.</summary>
    private async Task PlayAsync(ObjectContent vm, IReadOnlyDictionary<string, string> extra)
    {
        var devices = vm.Properties.GetValueOrDefault("config.hardware.device")?.Elements().Select(DeviceInfo.Parse).ToList() ?? [];
        var disks = DisksOf(devices, extra);
        // A VM powered off and on again between two looks is a new boot: its last guest goes.
        var boot = vm.Text("summary.runtime.bootTime") ?? "";
        if (_guests.TryGetValue(vm.Obj.Value, out var running) && _boots.GetValueOrDefault(vm.Obj.Value) != boot && _guests.TryRemove(vm.Obj.Value, out var previous))
        {
            _generations.TryRemove(vm.Obj.Value, out _);
            await previous.DisposeAsync().ConfigureAwait(false);
            running = null;
        }

        if (running is not null)
        {
            await running.SyncDisksAsync(disks).ConfigureAwait(false);
            return;
        }

        if (_appliance is not null && extra.GetValueOrDefault(ApplianceKey) == _vch)
        {
            await PlayApplianceAsync(vm, devices, boot).ConfigureAwait(false);
            return;
        }

        if (devices.FirstOrDefault(d => d.Type == "VirtualSerialPort") is not { ServiceUri: { } serviceUri } serial)
        {
            return;
        }

        var uuid = vm.Text("config.instanceUuid") ?? "";
        // Each power-on is a guest of its own, in a folder of its own (a VM powered on again finds the last one's sockets).
        var generation = Interlocked.Increment(ref _started);
        var home = Path.Combine(_home.Path, $"{vm.Obj.Value}-{generation}");

        // A guest that ends powers its VM off, as a guest does; one ended because its VM booted again does not.
        Func<ManagedObjectReference, Task> powerOff = vm => _generations.GetValueOrDefault(vm.Value) == generation ? PowerOffAsync(vm) : Task.CompletedTask;
        Directory.CreateDirectory(home);
        Func<CancellationToken, Task<Stream>> connect = async cancellationToken =>
        {
            await RouteAsync(serial.ProxyUri ?? serviceUri).ConfigureAwait(false);
            return await VmxSerialPort.ConnectAsync(serviceUri, serial.ProxyUri, uuid, cancellationToken).ConfigureAwait(false);
        };
        var macs = devices.Where(d => d.Type == "VirtualVmxnet3").OrderBy(d => d.Key).Select(d => d.Xml.Element(Vic.Vim25.Soap.VimXml.Vim + "macAddress")?.Value ?? "").ToList();
        var memoryMb = int.Parse(vm.Text("config.hardware.memoryMB") ?? "256", System.Globalization.CultureInfo.InvariantCulture);
        _generations[vm.Obj.Value] = generation;
        IGuest guest;
        if (!_realVms)
        {
            guest = SimulatedTether.Start(vm.Obj, home, connect, powerOff);
        }
        else if (extra.GetValueOrDefault(InstantCloneParent) is { } parentId)
        {
            // A child forks its parent's guest; until that guest is played, the child waits.
            if (!_guests.TryGetValue(parentId, out var parent) || parent is not SimulatedVm parentVm)
            {
                return;
            }

            guest = await parentVm.ForkAsync(vm.Obj, home, connect, powerOff).ConfigureAwait(false);
        }
        else
        {
            guest = SimulatedVm.Boot(vm.Obj, home, connect, memoryMb, disks, macs, powerOff);
        }

        _guests[vm.Obj.Value] = guest;
        _boots[vm.Obj.Value] = boot;
        await guest.SyncDisksAsync(disks).ConfigureAwait(false);
    }

    /// <summary>A serial port's way to the appliance's address: the port forwarded to the appliance playing now.</summary>
    private async Task RouteAsync(string uri)
    {
        if (_appliance is null || !Uri.TryCreate(uri, UriKind.Absolute, out var target) || target.Host != _appliance.HostAddress)
        {
            return;
        }

        foreach (var appliance in _guests.Values.OfType<SimulatedAppliance>())
        {
            await appliance.ForwardAsync(target.Port).ConfigureAwait(false);
        }
    }

    /// <summary>Boots the VCH's appliance VM: it has no serial port and no disks of the endpoint's; its ISO and disks are the datastore's.</summary>
    private Task PlayApplianceAsync(ObjectContent vm, IReadOnlyList<DeviceInfo> devices, string boot)
    {
        var generation = Interlocked.Increment(ref _started);
        var home = Directory.CreateDirectory(Path.Combine(_home.Path, $"{vm.Obj.Value}-{generation}")).FullName;
        var memoryMb = int.Parse(vm.Text("config.hardware.memoryMB") ?? "2048", System.Globalization.CultureInfo.InvariantCulture);
        _generations[vm.Obj.Value] = generation;
        Func<ManagedObjectReference, Task> powerOff = vm => _generations.GetValueOrDefault(vm.Value) == generation ? PowerOffAsync(vm) : Task.CompletedTask;
        _guests[vm.Obj.Value] = SimulatedAppliance.Boot(vm.Obj, home, _appliance!, memoryMb, devices, powerOff);
        _boots[vm.Obj.Value] = boot;
        return Task.CompletedTask;
    }

    private async Task PowerOffAsync(ManagedObjectReference vm)
    {
        try
        {
            await _session.PowerOffVmAsync(vm, CancellationToken.None).ConfigureAwait(false);
        }
        catch (VimFaultException)
        {
            // Already off, or gone.
        }
    }

    /// <summary>
    /// The VM's disks as its devices have them, at their SCSI units, each with the endpoint's copy
    /// of its content (the backend's extraConfig maps datastore paths to it) and whether it is a shared layer.
    /// </summary>
    private static List<GuestDisk> DisksOf(IReadOnlyList<DeviceInfo> devices, IReadOnlyDictionary<string, string> extraConfig)
    {
        var copies = extraConfig.TryGetValue("vic.vm.disks", out var json)
            ? System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateArray().ToDictionary(d => d.GetProperty("datastorePath").GetString()!, d => (Path: d.GetProperty("localPath").GetString()!, ReadOnly: d.GetProperty("role").GetInt32() == 0))
            : [];
        return [.. devices.Where(d => d.Type == "VirtualDisk" && d.FileName is not null && copies.ContainsKey(d.FileName))
            .Select(d => new GuestDisk(d.UnitNumber ?? 0, copies[d.FileName!].Path, copies[d.FileName!].ReadOnly))
            .OrderBy(d => d.Unit)];
    }
}

/// <summary>A disk of a simulated guest: its SCSI unit, the file with its content, whether it is read-only.</summary>
internal sealed record GuestDisk(int Unit, string Path, bool ReadOnly);
