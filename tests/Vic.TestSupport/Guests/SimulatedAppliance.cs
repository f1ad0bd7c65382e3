using System.Diagnostics;
using System.Globalization;
using Vic.Vim25;
using Vic.Vim25.Soap;

namespace Vic.TestSupport;

/// <summary>
/// How the simulated network reaches a VCH's appliance: its public NIC's ports are forwarded from
/// <paramref name="HostAddress"/> on this host (a loopback address of its own, say 127.0.0.23), as a
/// port group would route them; from the appliance, this host (vcsim, the registry) is 10.0.2.2.
/// </summary>
/// <param name="DatastoreDirectory">vcsim's datastore folder: the appliance's ISO and disks are its files.</param>
/// <param name="GuestAddress">The appliance's address on user networking: its DHCP lease, or the static one vic-machine gave it.</param>
public sealed record ApplianceNetwork(string DatastoreDirectory, string HostAddress, IReadOnlyList<int> Ports, string GuestAddress = "10.0.2.15");

/// <summary>
/// A VCH appliance VM as a real VM: QEMU with the VM's CD (appliance.iso from the datastore), its
/// paravirtual SCSI disks at their units (the flat extents of the datastore's VMDKs, grown to the
/// capacity vSphere gave them, as a thin disk reads), its vmxnet3 NIC on user networking with the
/// forwarded ports. It powers its VM off when it ends, as the appliance's /init does.
/// </summary>
internal sealed class SimulatedAppliance : SimulatedGuests.IGuest
{
    private readonly Process _qemu;
    private readonly string _console;
    private readonly string _qmp;
    private readonly ApplianceNetwork _network;
    private readonly HashSet<int> _forwarded;
    private readonly SemaphoreSlim _forwarding = new(1, 1);

    private SimulatedAppliance(Process qemu, string console, string qmp, ApplianceNetwork network)
    {
        _qemu = qemu;
        _console = console;
        _qmp = qmp;
        _network = network;
        _forwarded = [.. network.Ports];
    }

    public string Output => File.Exists(_console) ? File.ReadAllText(_console) : "";

    public static SimulatedAppliance Boot(ManagedObjectReference vm, string home, ApplianceNetwork network, int memoryMb, IReadOnlyList<DeviceInfo> devices, Func<ManagedObjectReference, Task> powerOff)
    {
        var console = Path.Combine(home, "console.log");
        var cd = devices.FirstOrDefault(d => d.Type == "VirtualCdrom")?.FileName ?? throw new InvalidOperationException("the appliance VM has no CD");
        var arguments = new List<string>
        {
            "-accel", "tcg", "-machine", "pc", "-m", $"{memoryMb}M", "-smp", "2", "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
            "-serial", $"file:{console}",
            "-qmp", $"unix:{Path.Combine(home, "qmp.sock")},server=on,wait=off",
            "-cdrom", Local(network, cd), "-boot", "d",
            "-device", "pvscsi,id=scsi0",
        };
        foreach (var disk in devices.Where(d => d.Type == "VirtualDisk" && d.FileName is not null))
        {
            var flat = Local(network, disk.FileName!.Replace(".vmdk", "-flat.vmdk", StringComparison.Ordinal));
            var capacity = long.Parse(disk.Xml.Element(VimXml.Vim + "capacityInKB")?.Value ?? "0", CultureInfo.InvariantCulture) * 1024;
            using (var file = new FileStream(flat, FileMode.OpenOrCreate, FileAccess.ReadWrite))
            {
                if (file.Length < capacity)
                {
                    file.SetLength(capacity);
                }
            }

            var unit = disk.UnitNumber ?? 0;
            arguments.AddRange([
                "-drive", $"if=none,id=d{unit},file={flat},format=raw,file.locking=off",
                "-device", $"scsi-hd,id=disk{unit},drive=d{unit},bus=scsi0.0,scsi-id={unit}",
            ]);
        }

        var forwards = string.Concat(network.Ports.Select(p => $",hostfwd=tcp:{network.HostAddress}:{p}-{network.GuestAddress}:{p}"));
        var nic = devices.FirstOrDefault(d => d.Type == "VirtualVmxnet3")?.Xml.Element(VimXml.Vim + "macAddress")?.Value;
        arguments.AddRange(["-netdev", $"user,id=n0{forwards}", "-device", "vmxnet3,netdev=n0" + (nic is { Length: > 0 } ? $",mac={nic}" : "")]);
        return new SimulatedAppliance(SimulatedVm.StartQemu(vm, console, arguments, powerOff), console, Path.Combine(home, "qmp.sock"), network);
    }

    /// <summary>
    /// Forwards one more port of the appliance's address to it (a ContainerVM's channel, whose
    /// port the endpoint chose): as a routed port group would carry it, which user networking
    /// does only for the ports it is told.
    /// </summary>
    public async Task ForwardAsync(int port)
    {
        await _forwarding.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_forwarded.Contains(port) || _qemu.HasExited)
            {
                return;
            }

            using var qmp = await QmpLine.ConnectAsync(_qmp, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            await qmp.ExecuteAsync("human-monitor-command", new System.Text.Json.Nodes.JsonObject { ["command-line"] = $"hostfwd_add n0 tcp:{_network.HostAddress}:{port}-{_network.GuestAddress}:{port}" }).ConfigureAwait(false);
            _forwarded.Add(port);
        }
        finally
        {
            _forwarding.Release();
        }
    }

    public Task SyncDisksAsync(IReadOnlyList<GuestDisk> disks) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (!_qemu.HasExited)
        {
            _qemu.Kill();
            await _qemu.WaitForExitAsync().ConfigureAwait(false);
        }

        _qemu.Dispose();
        _forwarding.Dispose();
    }

    /// <summary><c>[LocalDS_0] vch/appliance.iso</c> as the file in vcsim's datastore folder.</summary>
    private static string Local(ApplianceNetwork network, string datastorePath)
    {
        var close = datastorePath.IndexOf(']', StringComparison.Ordinal);
        return Path.Combine(network.DatastoreDirectory, datastorePath[(close + 1)..].Trim());
    }
}
